//! Named colors for thresholds and value mappings.

/// One of Grafana's named palette colors. Named colors follow the theme
/// (light or dark), where hex codes would not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Color {
    /// Healthy.
    Green,
    /// Worth a look.
    Yellow,
    /// Degraded.
    Orange,
    /// Broken.
    Red,
    /// Neutral information.
    Blue,
    /// Neutral, second series.
    Purple,
    /// The theme's text color: no judgement.
    Text,
}

impl Color {
    /// The name Grafana stores.
    pub fn grafana_name(self) -> &'static str {
        match self {
            Color::Green => "green",
            Color::Yellow => "yellow",
            Color::Orange => "orange",
            Color::Red => "red",
            Color::Blue => "blue",
            Color::Purple => "purple",
            Color::Text => "text",
        }
    }
}
