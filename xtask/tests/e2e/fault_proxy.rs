//! A fault-injecting Docker API: a Unix socket that forwards every request
//! to the real engine, except those a scenario chose to fail, delay or
//! drop. `cargo xtask` is pointed at it with `DOCKER_HOST=unix://…`, so a
//! scenario can break exactly one API call (the outcome write, an update
//! during a revert, the registry lookup) and then check what runs.
//!
//! HTTP is handled by hyper (server side for xtask, client side towards
//! the engine), so keep-alive connections, chunked and streamed bodies pass
//! through unchanged; a rule sees each request's method and path (the
//! `/v1.41` version prefix stripped).

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

/// What happens to a matching request.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status and `{"message": …}`, as the engine does.
    Fail(u16, String),
    /// Wait, then forward.
    Delay(Duration),
    /// Close the connection without an answer (a daemon that died).
    Drop,
}

/// `METHOD /path` with `*` matching one path segment, e.g.
/// `POST /services/*/update`; `**` at the end matches the rest.
#[derive(Debug, Clone)]
pub struct Rule {
    pub method: String,
    pub pattern: String,
    pub fault: Fault,
    /// How many matching requests it applies to (then it is spent).
    pub times: u32,
    /// Matching requests to let through before it starts applying.
    pub skip: u32,
}

impl Rule {
    /// `Rule::new("POST /configs/*/update", Fault::Fail(500, "injected".into()))`.
    pub fn new(request: &str, fault: Fault) -> Rule {
        let (method, pattern) = request.split_once(' ').expect("`METHOD /path`");
        Rule { method: method.to_owned(), pattern: pattern.to_owned(), fault, times: u32::MAX, skip: 0 }
    }

    pub fn times(mut self, n: u32) -> Rule {
        self.times = n;
        self
    }

    pub fn after(mut self, n: u32) -> Rule {
        self.skip = n;
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        if self.method != method {
            return false;
        }
        let want: Vec<&str> = self.pattern.trim_matches('/').split('/').collect();
        let have: Vec<&str> = path.trim_matches('/').split('/').collect();
        for (i, w) in want.iter().enumerate() {
            if *w == "**" {
                return true;
            }
            match have.get(i) {
                Some(h) if w == h || *w == "*" => {}
                _ => return false,
            }
        }
        want.len() == have.len()
    }
}

#[derive(Debug, Default)]
struct State {
    rules: Vec<Rule>,
    /// Every request seen (`METHOD /path`), and what was done to it.
    log: Vec<String>,
}

/// The proxy; stops (and removes its socket) when dropped.
pub struct FaultProxy {
    pub socket: PathBuf,
    state: Arc<Mutex<State>>,
    runtime: Option<tokio::runtime::Runtime>,
    _dir: tempfile::TempDir,
}

impl FaultProxy {
    /// Starts forwarding to `engine` (a Unix socket path).
    pub fn start(engine: &Path) -> FaultProxy {
        let dir = tempfile::Builder::new().prefix("fault-proxy-").tempdir().expect("tempdir");
        let socket = dir.path().join("docker.sock");
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("proxy runtime");
        let state = Arc::new(Mutex::new(State::default()));
        let listener = {
            let _guard = runtime.enter();
            tokio::net::UnixListener::bind(&socket).expect("binding the proxy socket")
        };
        let engine = engine.to_path_buf();
        let shared = state.clone();
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let engine = engine.clone();
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(req, engine.clone(), state.clone()));
                    // An error here is a dropped connection: the point of `Fault::Drop`.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FaultProxy { socket, state, runtime: Some(runtime), _dir: dir }
    }

    /// `unix:///…/docker.sock`, for `DOCKER_HOST`.
    pub fn docker_host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    pub fn add(&self, rule: Rule) {
        self.state.lock().expect("proxy state").rules.push(rule);
    }

    pub fn clear(&self) {
        self.state.lock().expect("proxy state").rules.clear();
    }

    /// Requests seen so far that a fault was applied to (`FAIL 500 POST /…`).
    pub fn injected(&self) -> Vec<String> {
        self.state.lock().expect("proxy state").log.iter().filter(|l| !l.starts_with("PASS")).cloned().collect()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

type Body = BoxBody<Bytes, hyper::Error>;

fn text(status: u16, message: &str) -> Response<Body> {
    let body = serde_json::json!({ "message": message }).to_string();
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("Content-Type", "application/json")
        .body(Full::new(Bytes::from(body)).map_err(|never: Infallible| match never {}).boxed())
        .expect("response")
}

/// The request's path without the `/v1.NN` prefix.
fn api_path(req: &Request<Incoming>) -> String {
    let path = req.uri().path();
    match path.strip_prefix("/v") {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => {
            rest.find('/').map(|i| rest[i..].to_owned()).unwrap_or_default()
        }
        _ => path.to_owned(),
    }
}

async fn handle(req: Request<Incoming>, engine: PathBuf, state: Arc<Mutex<State>>) -> Result<Response<Body>, String> {
    let method = req.method().as_str().to_owned();
    let path = api_path(&req);
    let fault = {
        let mut st = state.lock().map_err(|e| e.to_string())?;
        let mut chosen = None;
        for rule in st.rules.iter_mut().filter(|r| r.times > 0 && r.matches(&method, &path)) {
            if rule.skip > 0 {
                rule.skip -= 1;
                continue;
            }
            rule.times -= 1;
            chosen = Some(rule.fault.clone());
            break;
        }
        let verdict = match &chosen {
            None => "PASS".to_owned(),
            Some(Fault::Fail(code, _)) => format!("FAIL {code}"),
            Some(Fault::Delay(d)) => format!("DELAY {}ms", d.as_millis()),
            Some(Fault::Drop) => "DROP".to_owned(),
        };
        st.log.push(format!("{verdict} {method} {path}"));
        chosen
    };
    match fault {
        Some(Fault::Fail(code, message)) => return Ok(text(code, &message)),
        Some(Fault::Drop) => return Err("dropped by the fault proxy".to_owned()),
        Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
        None => {}
    }
    forward(req, &engine).await.or_else(|e| Ok(text(502, &format!("fault proxy: engine unreachable: {e}"))))
}

async fn forward(req: Request<Incoming>, engine: &Path) -> Result<Response<Body>, String> {
    let stream = tokio::net::UnixStream::connect(engine).await.map_err(|e| e.to_string())?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let response = sender.send_request(req).await.map_err(|e| e.to_string())?;
    Ok(response.map(BodyExt::boxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let r = Rule::new("POST /services/*/update", Fault::Drop);
        assert!(r.matches("POST", "/services/abc/update"));
        assert!(!r.matches("POST", "/services/abc"));
        assert!(!r.matches("GET", "/services/abc/update"));
        let r = Rule::new("GET /distribution/**", Fault::Drop);
        assert!(r.matches("GET", "/distribution/127.0.0.1:5000/x/y/json"));
    }
}
