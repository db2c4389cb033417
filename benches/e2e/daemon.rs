//! The real `leadrouter run` binary: a config in a temporary directory, spawning,
//! readiness, memory (VmHWM, sampled VmRSS), SIGTERM.
use crate::stack::{Names, Stack, unique};
use anyhow::{Context, Result, bail};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// `amqp.batch_size` for every daemon of this run (`--batch-size`); unset: the
/// daemon's default (half the prefetch window).
pub static BATCH_SIZE: std::sync::OnceLock<u16> = std::sync::OnceLock::new();

/// What every instance of one run shares: a fresh database, inbound queue, events
/// exchange with a bound queue (`names.events_seen`), and a directory for configs
/// and logs (removed on drop).
pub struct Setup {
    dir: tempfile::TempDir,
    pub amqp_url: String,
    pub db_url: String,
    pub names: Names,
    pub prefetch: u16,
}

impl Setup {
    /// Creates the database, declares the queue, the events exchange and its queue.
    pub async fn prepare(stack: &mut Stack, tag: &str, prefetch: u16) -> Result<Setup> {
        let names = Names::fresh(tag);
        let db_url = stack
            .create_database(&format!("leadrouter_bench_{}", unique()))
            .await?;
        stack.declare_queue(&names.inbound).await?;
        stack.bind_events(&names).await?;
        Ok(Setup {
            dir: tempfile::tempdir().context("temp dir")?,
            amqp_url: stack.amqp_url.clone(),
            db_url,
            names,
            prefetch,
        })
    }
}

pub struct Daemon {
    child: Option<Child>,
    pub pid: u32,
    pub port: u16,
    log: PathBuf,
    sampler_stop: Arc<AtomicBool>,
    /// Highest VmRSS seen by the 100 ms sampler, KiB.
    max_rss_kib: Arc<AtomicU64>,
}

/// Starts `instances` daemons on the same queue and database.
pub fn spawn_all(setup: &Setup, instances: usize) -> Result<Vec<Daemon>> {
    (0..instances).map(|i| spawn(setup, i)).collect()
}

/// Starts instance `index` (its own config file, log and HTTP port).
pub fn spawn(setup: &Setup, index: usize) -> Result<Daemon> {
    let port = free_port()?;
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/routing.yaml");
    let n = &setup.names;
    let yaml = format!(
        "amqp:\n  url: '{amqp}'\n  queue: '{q}'\n  dead_letter_queue: '{dlq}'\n  events_exchange: '{ex}'\n  prefetch: {prefetch}\n{batch}\
         database:\n  url: '{db}'\n\
         rules:\n  path: '{rules}'\n  watch: false\n\
         http:\n  listen: 127.0.0.1:{port}\n\
         alerts:\n  unassigned_after: 24h\n  sweep_every: 1m\n\
         logging:\n  level: warn\n",
        amqp = setup.amqp_url,
        q = n.inbound,
        dlq = n.dead_letter,
        ex = n.events_exchange,
        prefetch = setup.prefetch,
        batch = BATCH_SIZE
            .get()
            .map(|b| format!("  batch_size: {b}\n"))
            .unwrap_or_default(),
        db = setup.db_url,
        rules = rules.display(),
    );
    let config = setup.dir.path().join(format!("leadrouter-{index}.yaml"));
    std::fs::write(&config, yaml).context("write the daemon config")?;
    let log = setup.dir.path().join(format!("daemon-{index}.log"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_leadrouter"));
    cmd.arg("run").arg("--config").arg(&config);
    // Only the config file counts: no URL or key override from the caller's
    // environment, and no RUST_LOG turning on debug logging.
    for (key, _) in std::env::vars_os() {
        if let Some(k) = key.to_str()
            && (k.starts_with("LEADROUTER_") || k == "RUST_LOG")
        {
            cmd.env_remove(k);
        }
    }
    let child = cmd
        .env_remove("DATABASE_URL")
        .env_remove("AMQP_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).context("create the daemon log")?)
        .spawn()
        .context("start `leadrouter run`")?;
    let pid = child.id();
    let sampler_stop = Arc::new(AtomicBool::new(false));
    let max_rss_kib = Arc::new(AtomicU64::new(0));
    {
        let (stop, max) = (sampler_stop.clone(), max_rss_kib.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match status_kib(pid, "VmRSS:") {
                    Some(kib) => {
                        max.fetch_max(kib, Ordering::Relaxed);
                    }
                    None => break, // exited
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
    }
    Ok(Daemon {
        child: Some(child),
        pid,
        port,
        log,
        sampler_stop,
        max_rss_kib,
    })
}

impl Daemon {
    /// Fails (with the log) if the process has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(child) = self.child.as_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            bail!(
                "daemon {} exited early ({status}); its log:\n{}",
                self.pid,
                self.log_tail()
            );
        }
        Ok(())
    }

    /// Waits until `/readyz` answers 200; returns how long that took.
    pub async fn wait_ready(&mut self, since: Instant, limit: Duration) -> Result<Duration> {
        while since.elapsed() < limit {
            self.check_alive()?;
            if self.get_status("/readyz") == Some(200) {
                return Ok(since.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        bail!(
            "daemon {} not ready within {limit:?}; its log:\n{}",
            self.pid,
            self.log_tail()
        )
    }

    fn get_status(&self, path: &str) -> Option<u16> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut buf = String::new();
        s.read_to_string(&mut buf).ok()?;
        buf.split_whitespace().nth(1)?.parse().ok()
    }

    /// Peak resident set: the kernel's VmHWM (exact), and the highest VmRSS the
    /// 100 ms sampler saw, in KiB. Read before stopping the daemon.
    pub fn peak_rss_kib(&self) -> (Option<u64>, u64) {
        (
            status_kib(self.pid, "VmHWM:"),
            self.max_rss_kib.load(Ordering::Relaxed),
        )
    }

    /// SIGTERM, then waits up to 15 s for the exit (SIGKILL after that).
    pub fn stop(&mut self) -> Result<ExitStatus> {
        self.sampler_stop.store(true, Ordering::Relaxed);
        let Some(mut child) = self.child.take() else {
            bail!("daemon {} already stopped", self.pid);
        };
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .context("run kill")?;
        if !sent.success() {
            bail!("kill -TERM {} failed", self.pid);
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().context("wait for the daemon")? {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        bail!(
            "daemon {} did not exit within 15 s of SIGTERM (killed); its log:\n{}",
            self.pid,
            self.log_tail()
        )
    }

    /// The last 40 lines of the daemon's stderr.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Warnings and errors the daemon logged (its level is `warn`).
    pub fn log_lines(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .map(|t| t.lines().count())
            .unwrap_or(0)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.sampler_stop.store(true, Ordering::Relaxed);
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A `Vm...:` line of `/proc/<pid>/status`, in KiB.
fn status_kib(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("bind a free port")?;
    Ok(l.local_addr()?.port())
}

pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}
