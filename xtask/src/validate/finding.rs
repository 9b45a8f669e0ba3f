use std::fmt;

/// One problem found by a check: where it is and what is wrong.
///
/// Every validator reports through this type so `cargo xtask check` can print
/// one report that names the file and place of every problem at once.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    /// The check that found it, e.g. `promtool`, `promql`, `dashboard-lint`.
    pub check: &'static str,
    /// Repository-relative file the problem is in.
    pub file: String,
    /// Where in the file: a line, a panel, a rule. Empty when the whole file.
    pub location: String,
    pub message: String,
}

impl Finding {
    pub fn new(
        check: &'static str,
        file: impl Into<String>,
        location: impl Into<String>,
        message: impl Into<String>,
    ) -> Finding {
        Finding { check, file: file.into(), location: location.into(), message: message.into() }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.location.is_empty() {
            write!(f, "{}: [{}] {}", self.file, self.check, self.message)
        } else {
            write!(f, "{}: {}: [{}] {}", self.file, self.location, self.check, self.message)
        }
    }
}
