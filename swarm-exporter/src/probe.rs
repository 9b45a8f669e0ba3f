//! `swarm-exporter healthcheck`: asks a running exporter's `/health` and
//! exits 0 on 200, 1 otherwise, so an image with nothing but this binary
//! (no shell, no wget) can still have a container health check.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::Empty;
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// GET `url` (plain HTTP) within `timeout`; Ok when it answers 200.
pub async fn check(url: &str, timeout: Duration) -> Result<()> {
    tokio::time::timeout(timeout, get(url)).await.with_context(|| format!("{url}: no answer within {timeout:?}"))?
}

async fn get(url: &str) -> Result<()> {
    let uri: Uri = url.parse().with_context(|| format!("{url} is not a URL"))?;
    if uri.scheme_str() != Some("http") {
        bail!("{url}: only http:// is supported");
    }
    let host = uri.host().with_context(|| format!("{url} has no host"))?;
    let port = uri.port_u16().unwrap_or(80);
    let stream = TcpStream::connect((host, port)).await.with_context(|| format!("connecting to {host}:{port}"))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.context("HTTP handshake")?;
    tokio::spawn(connection);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let request = Request::get(path)
        .header(hyper::header::HOST, format!("{host}:{port}"))
        .body(Empty::<Bytes>::new())
        .context("building the request")?;
    let response = sender.send_request(request).await.with_context(|| format!("GET {url}"))?;
    if !response.status().is_success() {
        bail!("GET {url}: {}", response.status());
    }
    Ok(())
}
