//! Running the real `leadrouter serve` against a test database, and a small HTTP/1.1
//! client to talk to it (requests with a method, headers and a body; the answer's
//! status, headers and body).
use crate::db::TestDb;
use crate::wait::poll_until;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `leadrouter serve`, killed on drop.
pub struct Serve {
    child: Option<Child>,
    pub port: u16,
    pub log: PathBuf,
}

/// How to start `serve`.
pub struct ServeConfig<'a> {
    pub db: &'a TestDb,
    /// `file` or `database`.
    pub rules_source: &'a str,
    pub rules_path: &'a Path,
    /// Where the config and the log are written.
    pub dir: &'a Path,
    pub extra_args: &'a [&'a str],
}

impl Serve {
    /// Starts `serve` and waits for `/healthz`; panics with its log if it exits first.
    pub async fn start(c: ServeConfig<'_>) -> Serve {
        let mut s = Self::spawn(c);
        let up = poll_until(
            Duration::from_secs(20),
            async || {
                if let Some(status) = s.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                    panic!("serve exited early ({status}):\n{}", s.log_text());
                }
                s.request("GET", "/healthz", &[], None).map(|r| r.status)
            },
            |r| *r == Some(200),
        )
        .await;
        if up.is_err() {
            panic!("serve not up within 20 s:\n{}", s.log_text());
        }
        s
    }

    /// Starts `serve` without waiting (to see it refuse to start).
    pub fn spawn(c: ServeConfig<'_>) -> Serve {
        let port = crate::daemon::free_port();
        let n = std::fs::read_dir(c.dir).map(|d| d.count()).unwrap_or(0);
        let config = c.dir.join(format!("serve-{n}.yaml"));
        let yaml = format!(
            "database:\n  url: {}\nrules:\n  source: {}\n  path: {}\nadmin:\n  listen: 127.0.0.1:{port}\nlogging:\n  level: info,leadrouter=debug\n",
            c.db.url,
            c.rules_source,
            c.rules_path.display()
        );
        std::fs::write(&config, yaml).unwrap();
        let log = c.dir.join(format!("serve-{n}.log"));
        let child = Command::new(crate::binary())
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .args(c.extra_args)
            .env_remove("DATABASE_URL")
            .env_remove("LEADROUTER_ADMIN__LISTEN")
            .env_remove("LEADROUTER_RULES__SOURCE")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("leadrouter serve starts");
        Serve {
            child: Some(child),
            port,
            log,
        }
    }

    /// Waits for the process to exit (up to 20 s) and returns its exit code.
    pub async fn exit_code(&mut self) -> Option<i32> {
        let child = self.child.as_mut()?;
        let done = poll_until(
            Duration::from_secs(20),
            async || child.try_wait().ok().flatten(),
            Option::is_some,
        )
        .await;
        done.ok().flatten().and_then(|s| s.code())
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// One request; `None` when the server cannot be reached.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Option<Response> {
        request(self.port, method, path, headers, body)
    }

    /// A request with `token` (if any) and a JSON body (if any), its answer read as JSON.
    pub fn call(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Response {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(a) = &auth {
            headers.push(("Authorization", a));
        }
        let bytes = body.map(|b| serde_json::to_vec(b).unwrap());
        self.request(method, path, &headers, bytes.as_deref())
            .unwrap_or_else(|| panic!("{method} {path}: no answer; log:\n{}", self.log_text()))
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON (panics, showing it, when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.text()))
    }
}

/// One HTTP/1.1 request on a connection of its own (`Connection: close`).
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Option<Response> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    let body = body.unwrap_or_default();
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    s.write_all(head.as_bytes()).ok()?;
    // A server may answer (413) before it has read the whole body: keep what it said.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    parse(&raw)
}

fn parse(raw: &[u8]) -> Option<Response> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Some(Response {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&data[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = eol + 2;
        out.extend_from_slice(&data[start..(start + size).min(data.len())]);
        data = &data[(start + size + 2).min(data.len())..];
    }
    out
}
