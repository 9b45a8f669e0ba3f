//! The dashboards, one module per subject.

mod cluster;
mod common;
mod containers;
mod hosts;
mod keycloak;
mod logs;
mod monitoring;
mod nginx;
mod overview;
mod postgres;
mod registry;
mod service_health;
mod service_logs;
mod services;
mod spark;

use crate::Dashboard;

/// The pinned dashboard UIDs, for links from elsewhere (alert annotations,
/// runbooks): `/d/<uid>` finds a dashboard whatever its title or folder.
pub mod uids {
    /// The platform overview.
    pub const OVERVIEW: &str = "etl-overview";
    /// Hosts, from node-exporter.
    pub const HOSTS: &str = "etl-hosts";
    /// Containers per Swarm service and node, from cAdvisor.
    pub const CONTAINERS: &str = "etl-containers";
    /// NGINX, from nginx-prometheus-exporter.
    pub const NGINX: &str = "etl-nginx";
    /// PostgreSQL, from postgres_exporter.
    pub const POSTGRES: &str = "etl-postgres";
    /// Frontend and backend HTTP metrics, from OpenTelemetry.
    pub const SERVICES: &str = "etl-services";
    /// Logs, from Loki.
    pub const LOGS: &str = "etl-logs";
    /// The monitoring stack's own health.
    pub const MONITORING: &str = "etl-monitoring";
    /// Every Swarm service's tasks and updates, from swarm-exporter.
    pub const SERVICE_HEALTH: &str = "etl-service-health";

    /// Keycloak, from its own metrics.
    pub const KEYCLOAK: &str = "etl-keycloak";
    /// Spark standalone: master, workers, driver and executors.
    pub const SPARK: &str = "etl-spark";
    /// The container registry, from its debug metrics.
    pub const REGISTRY: &str = "etl-registry";
    /// Swarm managers and Docker engines.
    pub const CLUSTER: &str = "etl-cluster";

    /// Every UID above, in the order of [`all`](super::all).
    pub const ALL: [&str; 13] = [
        OVERVIEW,
        SERVICE_HEALTH,
        HOSTS,
        CONTAINERS,
        NGINX,
        POSTGRES,
        SERVICES,
        LOGS,
        MONITORING,
        KEYCLOAK,
        SPARK,
        REGISTRY,
        CLUSTER,
    ];
}

/// Every dashboard, in a stable order.
pub fn all() -> Vec<Dashboard> {
    vec![
        overview::dashboard(),
        service_health::dashboard(),
        hosts::dashboard(),
        containers::dashboard(),
        nginx::dashboard(),
        postgres::dashboard(),
        services::dashboard(),
        logs::dashboard(),
        monitoring::dashboard(),
        keycloak::dashboard(),
        spark::dashboard(),
        registry::dashboard(),
        cluster::dashboard(),
    ]
}
