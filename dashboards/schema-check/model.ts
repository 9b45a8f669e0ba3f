// The shape of a saved dashboard, built only from the types that Grafana
// publishes as the npm package @grafana/schema (pinned in package.json to
// the tag of `[images.grafana]` in stack/stack.toml; dashboards/tests/schema.rs
// checks that they agree). check.mjs type-checks every
// dashboard as an object literal of type `SavedDashboard`: TypeScript's
// excess-property check rejects unknown keys, its assignability check wrong
// types and values outside an enum.
//
// What this file adds to the published types, and why:
// - `Json<T>`: saved JSON spells a string enum by its value ("list"), but
//   TypeScript's string enums are nominal, so each enum becomes the union of
//   its values. Nothing else changes: required stays required.
// - `WithDefaults<T>`: Grafana merges a panel's saved `options` and
//   `fieldConfig.defaults.custom` deeply over the plugin's defaults when it
//   loads the panel, so any key may be left out there (the generated types
//   mark keys that have a default as required). Unknown keys and wrong types
//   are still errors.
// - `VariableModel.definition`: the dashboard v0/v1 types lack it, but
//   Grafana saves it (the query as shown in the variable list) and the v2
//   schema of the same package declares it on QueryVariableSpec; its type is
//   taken from there.
// - `Panel`: @grafana/schema types `options`, `custom` and `targets` as open
//   records; here each panel type gets its own plugin's `Options` and
//   `FieldConfig` (a panel type not listed in `VizPanel` is an error), and
//   each target is at least a `DataQuery`.
import type * as schema from "@grafana/schema";
import type * as v2 from "@grafana/schema/apis/dashboard.grafana.app/v2";
import type * as bargauge from "@grafana/schema/dist/esm/raw/composable/bargauge/panelcfg/x/BarGaugePanelCfg_types.gen";
import type * as gauge from "@grafana/schema/dist/esm/raw/composable/gauge/panelcfg/x/GaugePanelCfg_types.gen";
import type * as logs from "@grafana/schema/dist/esm/raw/composable/logs/panelcfg/x/LogsPanelCfg_types.gen";
import type * as stat from "@grafana/schema/dist/esm/raw/composable/stat/panelcfg/x/StatPanelCfg_types.gen";
import type * as table from "@grafana/schema/dist/esm/raw/composable/table/panelcfg/x/TablePanelCfg_types.gen";
import type * as text from "@grafana/schema/dist/esm/raw/composable/text/panelcfg/x/TextPanelCfg_types.gen";
import type * as timeseries from "@grafana/schema/dist/esm/raw/composable/timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen";

type Json<T> = T extends string
  ? `${T}`
  : T extends number | boolean | null | undefined
    ? T
    : T extends readonly (infer E)[]
      ? Json<E>[]
      : T extends object
        ? { [K in keyof T]: Json<T[K]> }
        : T;

type WithDefaults<T> = T extends string
  ? `${T}`
  : T extends number | boolean | null | undefined
    ? T
    : T extends readonly (infer E)[]
      ? WithDefaults<E>[]
      : T extends object
        ? { [K in keyof T]?: WithDefaults<T[K]> }
        : T;

// Plugins without a FieldConfig of their own (stat, gauge, ...) have no
// custom field options: any key there is unknown to Grafana. (An empty
// object type would accept every key; a key JSON cannot spell keeps the
// excess-property check on.)
declare const noCustomFieldOptions: unique symbol;
type NoCustom = { [noCustomFieldOptions]?: never };

// A query's own keys (`expr`, `legendFormat`, ...) belong to its data
// source, whose types @grafana/schema does not publish for Prometheus or
// Loki; the keys every query shares (`refId`, `datasource`, ...) are checked.
type Query = Json<schema.DataQuery> & { [key: string]: unknown };

type Panel<Type extends string, Options, Custom> = Omit<Json<schema.Panel>, "type" | "options" | "fieldConfig" | "targets"> & {
  type: Type;
  targets?: Query[];
  options?: WithDefaults<Options>;
  fieldConfig?: Omit<Json<schema.FieldConfigSource>, "defaults"> & {
    defaults: Omit<Json<schema.FieldConfig>, "custom"> & { custom?: WithDefaults<Custom> };
  };
};

// The panel types the dashboards crate renders (its `PanelKind`); a panel of
// any other type is rejected until its plugin is added here.
type VizPanel =
  | Panel<"bargauge", bargauge.Options, NoCustom>
  | Panel<"gauge", gauge.Options, NoCustom>
  | Panel<"logs", logs.Options, NoCustom>
  | Panel<"stat", stat.Options, NoCustom>
  | Panel<"table", table.Options, table.FieldConfig>
  | Panel<"text", text.Options, NoCustom>
  | Panel<"timeseries", timeseries.Options, timeseries.FieldConfig>;

type RowPanel = Omit<Json<schema.RowPanel>, "panels"> & { panels: VizPanel[] };

type VariableModel = Json<schema.VariableModel> & { definition?: v2.QueryVariableSpec["definition"] };

export type SavedDashboard = Omit<Json<schema.Dashboard>, "panels" | "templating"> & {
  panels?: Array<VizPanel | RowPanel>;
  templating?: Omit<NonNullable<Json<schema.Dashboard>["templating"]>, "list"> & { list?: VariableModel[] };
};
