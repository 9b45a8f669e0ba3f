//! Builds a [`Dashboard`], numbering and laying out its panels.

use crate::{Dashboard, DashboardLink, Element, GridLayout, Panel, Row, Variable};

/// Collects a dashboard's parts. Rows and panels added with [`row`] and
/// [`panel`] get consecutive ids from 1 and positions from a [`GridLayout`],
/// so ids are unique and panels cannot overlap; [`element`] adds one exactly
/// as given, for tests and hand layouts, and leaves the checking to the lint.
///
/// [`row`]: DashboardBuilder::row
/// [`panel`]: DashboardBuilder::panel
/// [`element`]: DashboardBuilder::element
#[derive(Debug, Clone)]
pub struct DashboardBuilder {
    dashboard: Dashboard,
    layout: GridLayout,
    next_id: u32,
}

impl DashboardBuilder {
    /// A dashboard with the defaults: last 6 hours, refresh every minute,
    /// not editable.
    pub fn new(uid: impl Into<String>, title: impl Into<String>) -> Self {
        DashboardBuilder {
            dashboard: Dashboard {
                uid: uid.into(),
                title: title.into(),
                description: String::new(),
                tags: Vec::new(),
                editable: false,
                time_from: "now-6h".into(),
                time_to: "now".into(),
                refresh: "1m".into(),
                variables: Vec::new(),
                links: Vec::new(),
                elements: Vec::new(),
            },
            layout: GridLayout::new(),
            next_id: 1,
        }
    }

    /// What the dashboard is for.
    #[must_use]
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.dashboard.description = description.into();
        self
    }

    /// Adds tags.
    #[must_use]
    pub fn tags<S: Into<String>>(mut self, tags: impl IntoIterator<Item = S>) -> Self {
        self.dashboard.tags.extend(tags.into_iter().map(Into::into));
        self
    }

    /// The default time range, e.g. `("now-6h", "now")`.
    #[must_use]
    pub fn time(mut self, from: impl Into<String>, to: impl Into<String>) -> Self {
        self.dashboard.time_from = from.into();
        self.dashboard.time_to = to.into();
        self
    }

    /// The auto-refresh interval, e.g. `"1m"`.
    #[must_use]
    pub fn refresh(mut self, refresh: impl Into<String>) -> Self {
        self.dashboard.refresh = refresh.into();
        self
    }

    /// Whether users may edit it. Generated dashboards must not be: edits
    /// would be lost on the next deploy. Exists for the lint's tests.
    #[must_use]
    pub fn editable(mut self, editable: bool) -> Self {
        self.dashboard.editable = editable;
        self
    }

    /// Adds a template variable after those already added.
    #[must_use]
    pub fn variable(mut self, variable: Variable) -> Self {
        self.dashboard.variables.push(variable);
        self
    }

    /// Adds a header link.
    #[must_use]
    pub fn link(mut self, link: DashboardLink) -> Self {
        self.dashboard.links.push(link);
        self
    }

    /// Adds header links.
    #[must_use]
    pub fn links(mut self, links: impl IntoIterator<Item = DashboardLink>) -> Self {
        self.dashboard.links.extend(links);
        self
    }

    /// Starts a row: a full-width header on a new line.
    #[must_use]
    pub fn row(mut self, title: impl Into<String>) -> Self {
        let id = self.take_id();
        let pos = self.layout.full_width_row();
        self.dashboard.elements.push(Element::Row(Row::new(title).with_id(id).at(pos)));
        self
    }

    /// Adds a panel at the next free place, with its requested size.
    #[must_use]
    pub fn panel(mut self, panel: Panel) -> Self {
        let id = self.take_id();
        let (w, h) = panel.requested_size();
        let pos = self.layout.place(w, h);
        self.dashboard.elements.push(Element::Panel(panel.with_id(id).at(pos)));
        self
    }

    /// Adds panels, in order.
    #[must_use]
    pub fn panels(self, panels: impl IntoIterator<Item = Panel>) -> Self {
        panels.into_iter().fold(self, DashboardBuilder::panel)
    }

    /// Ends the current line: the next panel starts at the left edge.
    #[must_use]
    pub fn newline(mut self) -> Self {
        self.layout.newline();
        self
    }

    /// Adds a row or panel exactly as given: its id and position are not
    /// touched and the layout cursor does not move. Low level; see the type
    /// documentation.
    #[must_use]
    pub fn element(mut self, element: Element) -> Self {
        self.dashboard.elements.push(element);
        self
    }

    /// The finished dashboard.
    pub fn build(self) -> Dashboard {
        self.dashboard
    }

    fn take_id(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{GridPos, Target, Unit};

    fn sample() -> Dashboard {
        Dashboard::builder("etl-sample", "Sample")
            .tags(["etl"])
            .row("First")
            .panel(Panel::stat("A", "a", Unit::Short).target(Target::prometheus("up")))
            .panel(Panel::stat("B", "b", Unit::Short).target(Target::prometheus("up")))
            .row("Second")
            .panel(Panel::time_series("C", "c", Unit::Short).size(24, 8).target(Target::prometheus("up")))
            .build()
    }

    #[test]
    fn numbers_elements_from_one() {
        let ids: Vec<u32> = sample().elements().iter().map(Element::id).collect();
        assert_eq!(ids, [1, 2, 3, 4, 5]);
    }

    #[test]
    fn lays_out_rows_and_panels() {
        let pos: Vec<GridPos> = sample().elements().iter().map(Element::grid_pos).collect();
        assert_eq!(
            pos,
            [
                GridPos::new(0, 0, 24, 1),
                GridPos::new(0, 1, 4, 4),
                GridPos::new(4, 1, 4, 4),
                GridPos::new(0, 5, 24, 1),
                GridPos::new(0, 6, 24, 8),
            ]
        );
    }

    #[test]
    fn defaults_are_not_editable_with_time_and_refresh() {
        let d = sample();
        assert!(!d.editable());
        assert_eq!(d.time(), ("now-6h", "now"));
        assert_eq!(d.refresh(), "1m");
    }

    #[test]
    fn element_keeps_hand_ids_and_positions() {
        let d = Dashboard::builder("etl-sample", "Sample")
            .element(Element::Panel(Panel::stat("X", "x", Unit::Short).with_id(7).at(GridPos::new(3, 4, 5, 6))))
            .build();
        assert_eq!(d.elements()[0].id(), 7);
        assert_eq!(d.elements()[0].grid_pos(), GridPos::new(3, 4, 5, 6));
    }

    #[test]
    fn queries_list_every_target() {
        let q = sample().queries();
        assert_eq!(q.len(), 3);
        assert_eq!(q[0].dashboard_uid, "etl-sample");
        assert_eq!(q[0].panel_id, 2);
        assert_eq!(q[0].panel_title, "A");
        assert_eq!(q[0].ref_id, "A");
        assert_eq!(q[0].expr, "up");
        assert_eq!(q[2].panel_id, 5);
    }

    #[test]
    fn json_is_sorted_and_stable() {
        let a = sample().to_json();
        let b = sample().to_json();
        assert_eq!(a, b);
        assert!(a.starts_with("{\n  \"annotations\""));
        assert!(a.ends_with("}\n"));
        assert!(a.contains("\"schemaVersion\": 42"));
        assert!(a.contains("\"editable\": false"));
    }
}
