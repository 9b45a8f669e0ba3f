/// A file the generators produce: repository-relative path and full contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    /// Repository-relative path, e.g. `dashboards/generated/etl-hosts.json`.
    pub path: String,
    pub contents: String,
}
