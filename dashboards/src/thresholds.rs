//! Threshold steps that color a panel's values.

use serde_json::{Value, json};

use crate::Color;
use crate::json::number;

/// Whether threshold values are absolute or percentages of min..max.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThresholdsMode {
    /// Values are in the panel's unit.
    Absolute,
    /// Values are percentages of the panel's min..max range.
    Percentage,
}

/// Steps from a base color upwards. Grafana wants the steps sorted by value
/// with the base first (`value: null`, meaning -Infinity); [`Thresholds::step`]
/// keeps them sorted whatever order they are added in.
#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    mode: ThresholdsMode,
    base: Color,
    steps: Vec<(f64, Color)>,
}

impl Thresholds {
    /// Absolute thresholds starting at `base`.
    pub fn absolute(base: Color) -> Self {
        Thresholds { mode: ThresholdsMode::Absolute, base, steps: Vec::new() }
    }

    /// Percentage thresholds starting at `base`.
    pub fn percentage(base: Color) -> Self {
        Thresholds { mode: ThresholdsMode::Percentage, base, steps: Vec::new() }
    }

    /// From `value` upwards, use `color`.
    #[must_use]
    pub fn step(mut self, value: f64, color: Color) -> Self {
        self.steps.push((value, color));
        self.steps.sort_by(|a, b| a.0.total_cmp(&b.0));
        self
    }

    /// The usual green / orange / red traffic light.
    pub fn traffic_light(warning: f64, critical: f64) -> Self {
        Thresholds::absolute(Color::Green).step(warning, Color::Orange).step(critical, Color::Red)
    }

    /// Red / orange / green for values where low is bad (e.g. free space).
    pub fn inverted_traffic_light(critical: f64, warning: f64) -> Self {
        Thresholds::absolute(Color::Red).step(critical, Color::Orange).step(warning, Color::Green)
    }

    pub(crate) fn to_json(&self) -> Value {
        let mut steps = vec![json!({ "color": self.base.grafana_name(), "value": null })];
        steps.extend(self.steps.iter().map(|(v, c)| json!({ "color": c.grafana_name(), "value": number(*v) })));
        let mode = match self.mode {
            ThresholdsMode::Absolute => "absolute",
            ThresholdsMode::Percentage => "percentage",
        };
        json!({ "mode": mode, "steps": steps })
    }
}

impl Default for Thresholds {
    /// A single neutral step: values keep the palette's colors.
    fn default() -> Self {
        Thresholds::absolute(Color::Green)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_sorted_with_the_base_first() {
        let t = Thresholds::absolute(Color::Green).step(90.0, Color::Red).step(75.5, Color::Orange);
        assert_eq!(
            t.to_json(),
            json!({"mode": "absolute", "steps": [
                {"color": "green", "value": null},
                {"color": "orange", "value": 75.5},
                {"color": "red", "value": 90}
            ]})
        );
    }
}
