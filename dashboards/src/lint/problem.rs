//! One finding of the lint.

use std::fmt;

/// Something wrong with a dashboard, and where.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Problem {
    /// The UID of the dashboard it is in.
    pub dashboard_uid: String,
    /// Where in the dashboard, e.g. `panel 7 "CPU busy" target B`,
    /// `variable "node"`, `link "Hosts"` or `dashboard`.
    pub location: String,
    /// What is wrong, and what to do instead.
    pub message: String,
}

impl Problem {
    pub(crate) fn new(dashboard_uid: &str, location: impl Into<String>, message: impl Into<String>) -> Self {
        Problem { dashboard_uid: dashboard_uid.to_owned(), location: location.into(), message: message.into() }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "dashboard {}: {}: {}", self.dashboard_uid, self.location, self.message)
    }
}
