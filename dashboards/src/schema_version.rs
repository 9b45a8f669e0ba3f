//! The dashboard JSON `schemaVersion` this crate writes.

/// `schemaVersion` of the generated (classic model) dashboards.
///
/// Why 42 for the pinned `grafana/grafana:13.2.3`:
///
/// - Grafana's frontend froze the classic model at 42: `DashboardMigrator.ts`
///   says "Schema version 42 is the FINAL version for the v1 dashboard API.
///   DO NOT increment this number" (grafana/grafana main, 2025–2026).
/// - The backend migrator (`apps/dashboard/pkg/migration`) may go further:
///   main holds a `v43.go` (formatTime → convertFieldType transformations),
///   but we could not confirm that 13.2.3 ships it. Its `migrate()` only
///   walks upwards and fails with "schema version not migrated to target
///   version" when the input is newer than its latest version, so writing 43
///   to a Grafana whose latest is 42 breaks the dashboard, while writing 42 to
///   one at 43 runs V43, which changes nothing here: we emit no `formatTime`
///   transformation. Only the number read back would differ.
/// - The strict JSON schema we validate against (grafana-foundation-sdk
///   `dashboard.jsonschema.json`) defaults to 42.
///
/// Revisit when the Grafana pin moves: compare with `LATEST_VERSION` in
/// `apps/dashboard/pkg/migration/schemaversion/migrations.go` at the pinned tag.
pub const SCHEMA_VERSION: u32 = 42;
