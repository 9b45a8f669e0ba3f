use std::fmt;

/// One problem found by a lint or a check: where it is, which rule found it,
/// what is wrong and, when there is one fix, how to fix it.
///
/// The dashboards lint, the rules lint and every xtask check report through
/// this type, so `cargo xtask check` prints one report and two checks that
/// find the same thing say it the same way (duplicates are merged).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Finding {
    /// The rule or check that found it, e.g. `promql`, `dashboard-lint`.
    /// First, so a sorted report groups findings by the check that made them.
    pub rule: &'static str,
    /// Repository-relative file the problem is in (for a dashboard or a
    /// rule: the generated file it ends up in).
    pub file: String,
    /// Where in the file: a line, a panel, a rule. Empty when the whole file.
    pub place: String,
    pub message: String,
    /// The command or change that fixes it, when there is one.
    pub hint: Option<String>,
}

impl Finding {
    pub fn new(
        rule: &'static str,
        file: impl Into<String>,
        place: impl Into<String>,
        message: impl Into<String>,
    ) -> Finding {
        Finding { rule, file: file.into(), place: place.into(), message: message.into(), hint: None }
    }

    /// The same finding with a fix hint.
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Finding {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.file)?;
        if !self.place.is_empty() {
            write!(f, "{}: ", self.place)?;
        }
        write!(f, "[{}] {}", self.rule, self.message)?;
        match &self.hint {
            Some(hint) => write!(f, ": {hint}"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_file_place_rule_message_and_hint() {
        let whole = Finding::new("gen", "a/b.yml", "", "stale");
        assert_eq!(whole.to_string(), "a/b.yml: [gen] stale");
        let placed = Finding::new("promql", "a/b.yml", "group g rule r", "bad").with_hint("do this");
        assert_eq!(placed.to_string(), "a/b.yml: group g rule r: [promql] bad: do this");
    }
}
