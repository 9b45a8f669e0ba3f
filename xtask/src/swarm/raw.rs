//! A minimal HTTP/1.0 GET against the Docker engine, for the reads whose
//! JSON bollard's models lose.
//!
//! The engine sends a service's health check as `Healthcheck` (the Go field
//! name), while bollard's `TaskSpecContainerSpec` only reads `HealthCheck`
//! (the swagger spelling): a typed `inspect_service` silently drops the
//! health check. A spec read that way and written back would strip it, and
//! a desired spec would never equal the running one. So service specs are
//! read here, the key is fixed, and only then typed.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Where the engine listens, from `DOCKER_HOST` (default: the local socket).
#[derive(Debug, Clone)]
pub enum Endpoint {
    Unix(PathBuf),
    Tcp(String),
}

impl Endpoint {
    pub fn from_env() -> Result<Endpoint> {
        let host = std::env::var("DOCKER_HOST").unwrap_or_default();
        Endpoint::parse(&host)
    }

    pub fn parse(host: &str) -> Result<Endpoint> {
        if host.is_empty() {
            return Ok(Endpoint::Unix(PathBuf::from("/var/run/docker.sock")));
        }
        if let Some(path) = host.strip_prefix("unix://") {
            return Ok(Endpoint::Unix(PathBuf::from(path)));
        }
        if let Some(addr) = host.strip_prefix("tcp://").or_else(|| host.strip_prefix("http://")) {
            if std::env::var_os("DOCKER_TLS_VERIFY").is_some() {
                bail!(
                    "DOCKER_HOST={host} with DOCKER_TLS_VERIFY: TLS engines are not supported; use an SSH tunnel to the socket"
                );
            }
            return Ok(Endpoint::Tcp(addr.trim_end_matches('/').to_owned()));
        }
        bail!("DOCKER_HOST={host}: only unix:// and tcp:// engines are supported")
    }

    pub fn describe(&self) -> String {
        match self {
            Endpoint::Unix(p) => format!("unix://{}", p.display()),
            Endpoint::Tcp(a) => format!("tcp://{a}"),
        }
    }

    /// `GET path` (with query), returning the status and the decoded body.
    pub async fn get(&self, path: &str) -> Result<(u16, Vec<u8>)> {
        let request = format!(
            "GET {path} HTTP/1.0\r\nHost: docker\r\nUser-Agent: cargo-xtask\r\nAccept: application/json\r\n\r\n"
        );
        let raw = match self {
            Endpoint::Unix(p) => {
                let stream = tokio::net::UnixStream::connect(p)
                    .await
                    .with_context(|| format!("connecting to {}", p.display()))?;
                exchange(stream, &request).await?
            }
            Endpoint::Tcp(a) => {
                let stream = tokio::net::TcpStream::connect(a).await.with_context(|| format!("connecting to {a}"))?;
                exchange(stream, &request).await?
            }
        };
        parse_response(&raw).with_context(|| format!("GET {path}"))
    }
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, request: &str) -> Result<Vec<u8>> {
    stream.write_all(request.as_bytes()).await?;
    stream.flush().await?;
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await?;
    Ok(buf)
}

fn parse_response(raw: &[u8]) -> Result<(u16, Vec<u8>)> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").context("response has no header end")?;
    let head = std::str::from_utf8(&raw[..split]).context("response header is not UTF-8")?;
    let body = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad status line `{status_line}`"))?;
    let chunked = lines.any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = if chunked { dechunk(body)? } else { body.to_vec() };
    Ok((status, body))
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = data.windows(2).position(|w| w == b"\r\n").context("truncated chunk size")?;
        let size_text = std::str::from_utf8(&data[..eol])?.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).with_context(|| format!("bad chunk size `{size_text}`"))?;
        data = &data[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size {
            bail!("truncated chunk");
        }
        out.extend_from_slice(&data[..size]);
        data = data.get(size + 2..).unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_chunked_bodies() {
        let plain = b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n[1]";
        assert_eq!(parse_response(plain).unwrap(), (200, b"[1]".to_vec()));
        let chunked = b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked).unwrap(), (404, b"abcde".to_vec()));
    }

    #[test]
    fn endpoints() {
        assert!(matches!(Endpoint::parse("").unwrap(), Endpoint::Unix(_)));
        assert!(matches!(Endpoint::parse("tcp://127.0.0.1:2375").unwrap(), Endpoint::Tcp(a) if a == "127.0.0.1:2375"));
        assert!(Endpoint::parse("ssh://x").is_err());
    }
}
