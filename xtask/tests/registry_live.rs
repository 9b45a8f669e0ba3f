//! The registry's dashboard and alerts against a real registry: Debian's
//! docker-registry (CNCF distribution 2.8) with its debug server's Prometheus
//! endpoint on, configured with the keys the README's platform section tells
//! the platform to set, scraped by a real Prometheus (`.tools/bin`) with the
//! collector's `registry` job (its metrics path read from otelcol.yml); an
//! image pushed through it and pulled back with oci-client, and a manifest
//! that does not exist asked for (a 404, as clients probe before pushing).
//!
//! Then every Prometheus query of the `etl-registry` dashboard must return
//! series, and every expression of the registry alert rules must evaluate,
//! with each metric it reads present for `job="registry"`.
//!
//! The registry and Prometheus run as host processes on loopback, on free
//! ports, in a temporary directory, stopped on drop; the test registry of
//! scripts/start-registry.sh (127.0.0.1:5000) is not touched. Skipped (with
//! a message) without docker-registry or prometheus; failed in CI.

#![allow(clippy::unwrap_used)] // a test that cannot set up its fixture should panic

#[path = "e2e/harness.rs"]
mod harness;
#[path = "e2e/live.rs"]
mod live;

use std::collections::BTreeSet;

use std::time::Duration;

use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use promql_parser::parser;

/// What Grafana substitutes in the dashboard's queries, for a query here.
const GRAFANA_VARIABLES: &[(&str, &str)] = &[("$__rate_interval", "30s"), ("$instance", ".+")];

/// Pushes a one-layer image to the registry, pulls it back, and asks for a
/// manifest that does not exist.
async fn push_and_pull(registry: &str) {
    let client = Client::new(ClientConfig { protocol: ClientProtocol::Http, ..Default::default() });
    let auth = RegistryAuth::Anonymous;
    let reference: Reference = format!("{registry}/e2e/platform:1").parse().unwrap();
    let layer = ImageLayer::oci_v1(b"registry_live layer\n".repeat(512), None);
    let config = Config::oci_v1(br#"{"architecture":"amd64","os":"linux"}"#.to_vec(), None);
    client
        .push(&reference, std::slice::from_ref(&layer), config, &auth, None)
        .await
        .expect("push through the registry");
    let pulled = client
        .pull(&reference, &auth, vec![oci_client::manifest::IMAGE_LAYER_MEDIA_TYPE])
        .await
        .expect("pull through the registry");
    assert_eq!(pulled.layers.len(), 1);
    assert_eq!(pulled.layers[0].data, layer.data, "the layer pulled back is the one pushed");
    let missing: Reference = format!("{registry}/e2e/platform:missing").parse().unwrap();
    assert!(client.pull_image_manifest(&missing, &auth).await.is_err(), "a missing manifest is an error");
}

#[test]
fn registry_dashboard_and_alerts_read_a_real_registry() {
    let Some(registry_bin) = live::find_tool("docker-registry", "DOCKER_REGISTRY") else {
        live::skip_or_fail("registry_live", "docker-registry not installed (apt-get install docker-registry)");
        return;
    };
    let Some(prometheus_bin) = live::find_tool("prometheus", "PROMETHEUS") else {
        live::skip_or_fail("registry_live", "prometheus not found (.tools/bin, $PROMETHEUS or PATH)");
        return;
    };
    let dir = tempfile::Builder::new().prefix("registry-live-").tempdir().unwrap();
    let (api_port, debug_port) = (harness::free_port(), harness::free_port());
    let metrics_path = live::collector_metrics_path("registry");

    // The keys the README's platform section names: http.debug.addr and
    // http.debug.prometheus (loopback and free ports here, `:5001` there).
    let registry_config = format!(
        "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {data}\n  cache:\n    blobdescriptor: inmemory\n\
         http:\n  addr: 127.0.0.1:{api_port}\n  debug:\n    addr: 127.0.0.1:{debug_port}\n    prometheus:\n      enabled: true\n      path: {metrics_path}\n",
        data = dir.path().join("data").display()
    );
    std::fs::write(dir.path().join("registry.yml"), registry_config).unwrap();
    let _registry = live::Process::spawn(
        &registry_bin,
        &["serve".into(), dir.path().join("registry.yml").display().to_string()],
        &dir.path().join("registry.log"),
    );
    live::wait_for("the registry answering", Duration::from_secs(30), || {
        live::http_ok(&format!("http://127.0.0.1:{api_port}/v2/"))
    });

    let prometheus_config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: registry\n    metrics_path: {metrics_path}\n    static_configs:\n      - targets: ['127.0.0.1:{debug_port}']\n"
    );
    let (_prometheus, prometheus) = live::start_prometheus(&prometheus_bin, dir.path(), &prometheus_config);
    live::wait_for("the registry target up", Duration::from_secs(30), || {
        live::prometheus_query(&[], &prometheus, r#"up{job="registry"} == 1"#).is_ok_and(|r| !r.is_empty())
    });

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(push_and_pull(&format!("127.0.0.1:{api_port}")));

    // The dashboard: every Prometheus query returns series once a few
    // scrapes after the traffic have landed.
    let queries = live::dashboard_queries(dashboards::uids::REGISTRY, GRAFANA_VARIABLES);
    assert!(queries.len() >= 10, "the registry dashboard has its panels: {queries:?}");
    let missing = live::queries_without_series(&prometheus, &queries, Duration::from_secs(60));
    assert!(missing.is_empty(), "dashboard queries without series:\n{}", missing.join("\n"));

    // The alerts: each expression evaluates, and every metric it reads is
    // there for the registry job (the conditions themselves are quiet on a
    // healthy registry; promtool's tests show them firing).
    let ctx = alerts::Context::default();
    let rules: Vec<alerts::Expression> =
        alerts::expressions(&ctx).into_iter().filter(|e| e.file.ends_with("/registry.rules.yml")).collect();
    assert!(rules.len() >= 4, "the registry rules: {rules:?}");
    for rule in &rules {
        live::prometheus_query(&[], &prometheus, &rule.expr)
            .unwrap_or_else(|e| panic!("{} does not evaluate: {e}", rule.rule));
        let mut names = BTreeSet::new();
        live::metric_names(&parser::parse(&rule.expr).unwrap(), &mut names);
        assert!(!names.is_empty(), "{} reads no metric", rule.rule);
        for name in names {
            let present =
                live::prometheus_query(&[], &prometheus, &format!(r#"count({{__name__="{name}", job="registry"}})"#))
                    .unwrap();
            assert!(!present.is_empty(), "{}: no `{name}` series from the registry", rule.rule);
        }
    }
}
