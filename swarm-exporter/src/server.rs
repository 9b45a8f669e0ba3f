//! The HTTP side: `/metrics` reads the engine and answers with the
//! OpenMetrics text; `/health` says whether the engine is a reachable
//! manager and whether the last reading worked.

use std::convert::Infallible;
use std::sync::Arc;

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Mutex;

use crate::engine;
use crate::metrics::Metrics;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

#[derive(Debug)]
struct State {
    engine: engine::Engine,
    /// Scrapes run one at a time: two at once would double the engine's
    /// load and race on the gauges each of them clears and sets.
    metrics: Mutex<Scrape>,
}

#[derive(Debug, Default)]
struct Scrape {
    metrics: Metrics,
    /// The last reading's error, for `/health`.
    last_error: Option<String>,
}

pub async fn serve(listener: TcpListener, engine: engine::Engine) -> Result<()> {
    let state = Arc::new(State { engine, metrics: Mutex::new(Scrape::default()) });
    loop {
        let (stream, peer) = listener.accept().await.context("accepting a connection")?;
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| respond(state.clone(), req));
            if let Err(e) = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await {
                eprintln!("swarm-exporter: connection from {peer}: {e}");
            }
        });
    }
}

async fn respond(state: Arc<State>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.method() != Method::GET {
        return Ok(reply(StatusCode::METHOD_NOT_ALLOWED, TEXT, "only GET\n".into()));
    }
    Ok(match req.uri().path() {
        "/metrics" => metrics(&state).await,
        "/health" => health(&state).await,
        _ => reply(StatusCode::NOT_FOUND, TEXT, "not found: try /metrics or /health\n".into()),
    })
}

async fn metrics(state: &State) -> Response<Full<Bytes>> {
    let mut scrape = state.metrics.lock().await;
    let (result, seconds) = engine::timed_read(&state.engine).await;
    match result {
        Ok(snapshot) => {
            scrape.metrics.observe(&snapshot, seconds);
            scrape.last_error = None;
        }
        Err(e) => {
            eprintln!("swarm-exporter: reading the engine: {e}");
            scrape.metrics.observe_error(e.endpoint, seconds);
            scrape.last_error = Some(e.to_string());
        }
    }
    match scrape.metrics.encode() {
        Ok(text) => reply(StatusCode::OK, OPENMETRICS, text),
        Err(e) => reply(StatusCode::INTERNAL_SERVER_ERROR, TEXT, format!("encoding the metrics: {e}\n")),
    }
}

async fn health(state: &State) -> Response<Full<Bytes>> {
    let last = state.metrics.lock().await.last_error.clone();
    match (engine::health(&state.engine).await, last) {
        (Ok(ok), None) => reply(StatusCode::OK, TEXT, format!("ok: {ok}\n")),
        (Ok(ok), Some(err)) => reply(
            StatusCode::SERVICE_UNAVAILABLE,
            TEXT,
            format!("unhealthy: {ok}, but the last scrape failed: {err}\n"),
        ),
        (Err(e), _) => reply(StatusCode::SERVICE_UNAVAILABLE, TEXT, format!("unhealthy: {e:#}\n")),
    }
}

fn reply(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, hyper::header::HeaderValue::from_static(content_type));
    response
}
