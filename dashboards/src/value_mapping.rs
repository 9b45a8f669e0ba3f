//! Value mappings: show a word instead of a number.

use serde_json::{Value, json};

use crate::Color;

/// Shows `text` in `color` wherever the value equals `value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueMapping {
    value: String,
    text: String,
    color: Color,
}

impl ValueMapping {
    /// Map the exact value `value` (as Grafana prints it, e.g. `"0"`).
    pub fn new(value: impl Into<String>, text: impl Into<String>, color: Color) -> Self {
        ValueMapping { value: value.into(), text: text.into(), color }
    }

    /// The usual pair for `up`-style gauges: 1 is UP (green), 0 is DOWN (red).
    pub fn up_down() -> Vec<ValueMapping> {
        vec![ValueMapping::new("0", "DOWN", Color::Red), ValueMapping::new("1", "UP", Color::Green)]
    }

    pub(crate) fn to_json(&self, index: usize) -> Value {
        let mut options = serde_json::Map::new();
        options.insert(
            self.value.clone(),
            json!({ "color": self.color.grafana_name(), "index": index, "text": self.text }),
        );
        json!({ "type": "value", "options": options })
    }
}
