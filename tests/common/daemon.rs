//! Running the real `leadrouter run` binary against a fresh database and fresh queue
//! names, and looking at what it did.
use crate::amqp::Fixture;
use crate::db::TestDb;
use crate::wait::poll_until;
use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, ExchangeKind};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

/// The servers an [`Env`] uses, by URL: the machine's ([`Servers::machine`], what every
/// ordinary test uses), or, for a test that stops or kills one, its own
/// ([`crate::servers`]).
#[derive(Clone, Debug)]
pub struct Servers {
    pub amqp_url: String,
    /// A PostgreSQL server's URL without a database: each `Env` makes a fresh one there.
    pub db_server_url: String,
}

impl Servers {
    /// `AMQP_URL` and `TEST_DATABASE_URL`, or their defaults.
    pub fn machine() -> Servers {
        Servers {
            amqp_url: crate::amqp::url(),
            db_server_url: crate::db::server_url(),
        }
    }

    pub fn with_amqp(self, url: String) -> Servers {
        Servers {
            amqp_url: url,
            ..self
        }
    }

    pub fn with_db(self, server_url: String) -> Servers {
        Servers {
            db_server_url: server_url,
            ..self
        }
    }
}

pub struct Env {
    pub db: TestDb,
    pub amqp: Fixture,
    pub dir: tempfile::TempDir,
    pub rules: PathBuf,
    /// `alerts.unassigned_after` for the daemons this env spawns.
    pub unassigned_after: &'static str,
    /// More environment for the daemons this env spawns (`LEADROUTER_RULES__SOURCE`).
    pub env: Vec<(String, String)>,
    spawned: usize,
}

impl Env {
    /// A fresh database and queue names; the sample rules, or `rules_yaml` if given.
    pub async fn new(rules_yaml: Option<&str>) -> Env {
        Self::on(rules_yaml, &Servers::machine()).await
    }

    /// [`Env::new`] on `servers`.
    pub async fn on(rules_yaml: Option<&str>, servers: &Servers) -> Env {
        let dir = tempfile::tempdir().expect("temp dir");
        let rules_dir = dir.path().join("rules");
        std::fs::create_dir_all(rules_dir.join("scripts")).unwrap();
        let root = crate::repository();
        let rules = rules_dir.join("routing.yaml");
        match rules_yaml {
            Some(y) => std::fs::write(&rules, y).unwrap(),
            None => {
                std::fs::copy(root.join("rules/routing.yaml"), &rules).unwrap();
                std::fs::copy(
                    root.join("rules/scripts/custom.rhai"),
                    rules_dir.join("scripts/custom.rhai"),
                )
                .unwrap();
            }
        }
        Env {
            db: TestDb::unique_on(&servers.db_server_url),
            amqp: Fixture::on(&servers.amqp_url).await,
            dir,
            rules,
            unassigned_after: "24h",
            env: Vec::new(),
            spawned: 0,
        }
    }

    /// Writes a config for one instance (its own HTTP port) and starts the daemon.
    pub fn spawn(&mut self) -> Daemon {
        let (amqp, db) = (self.amqp.url.clone(), self.db.url.clone());
        self.spawn_with_urls(&amqp, &db)
    }

    /// [`Env::spawn`] connecting with other URLs (another user, TLS options).
    pub fn spawn_with_urls(&mut self, amqp_url: &str, db_url: &str) -> Daemon {
        self.spawned += 1;
        let port = free_port();
        let n = &self.amqp.names;
        let config = self
            .dir
            .path()
            .join(format!("leadrouter-{}.yaml", self.spawned));
        let yaml = format!(
            "amqp:\n  url: {amqp}\n  queue: {q}\n  dead_letter_queue: {dlq}\n  events_exchange: {ex}\n  prefetch: 256\ndatabase:\n  url: {db}\nrules:\n  path: rules/routing.yaml\nhttp:\n  listen: 127.0.0.1:{port}\nalerts:\n  unassigned_after: {after}\n  sweep_every: 1s\nlogging:\n  level: info,leadrouter=debug\n",
            amqp = amqp_url,
            q = n.inbound,
            dlq = n.dead_letter,
            ex = n.events_exchange,
            db = db_url,
            after = self.unassigned_after,
        );
        std::fs::write(&config, yaml).unwrap();
        let log = self.dir.path().join(format!("daemon-{}.log", self.spawned));
        let child = Command::new(crate::binary())
            .args(["run", "--config", config.to_str().unwrap()])
            .env_remove("DATABASE_URL")
            .env_remove("AMQP_URL")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("leadrouter run starts");
        Daemon {
            child: Some(child),
            port,
            log,
        }
    }

    /// Declares the events exchange and a queue bound to it with `#`, to see every event.
    pub async fn bind_events(&mut self) -> String {
        let queue = format!("{}.events-seen", self.amqp.names.inbound);
        let ch = &self.amqp.channel;
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        };
        ch.exchange_declare(
            self.amqp.names.events_exchange.as_str().into(),
            ExchangeKind::Topic,
            durable,
            FieldTable::default(),
        )
        .await
        .expect("declare events exchange");
        ch.queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("declare");
        ch.queue_bind(
            queue.as_str().into(),
            self.amqp.names.events_exchange.as_str().into(),
            "#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("bind");
        self.amqp.extra_queues.push(queue.clone());
        queue
    }

    pub async fn publish(&self, bodies: &[String]) {
        self.amqp
            .publish_all(&self.amqp.names.inbound, bodies)
            .await;
    }

    pub async fn publish_raw(&self, body: &[u8]) {
        let inbound = self.amqp.names.inbound.clone();
        self.amqp
            .publish(
                &inbound,
                body,
                BasicProperties::default().with_delivery_mode(2),
            )
            .await;
    }

    pub async fn conn(&self) -> sqlx::PgConnection {
        self.db.conn().await
    }

    /// [`TestDb::count`].
    pub async fn count(&self, sql: &str) -> i64 {
        self.db.count(sql).await
    }

    /// [`TestDb::wait_count`], for `secs` seconds.
    pub async fn wait_count(&self, sql: &str, want: i64, secs: u64) {
        self.db
            .wait_count(sql, want, Duration::from_secs(secs))
            .await;
    }

    pub async fn cleanup(self) {
        self.amqp.cleanup().await;
        self.db.cleanup().await;
    }
}

pub struct Daemon {
    child: Option<Child>,
    pub port: u16,
    pub log: PathBuf,
}

impl Daemon {
    /// Waits for `/readyz` to answer 200; fails with the daemon's log if it exits or is
    /// not ready within 30 s.
    pub async fn wait_ready(&mut self) {
        let ready = poll_until(
            Duration::from_secs(30),
            async || {
                if let Some(status) = self.exit_status() {
                    panic!("daemon exited early ({status}):\n{}", self.log_text());
                }
                self.get("/readyz")
            },
            |r| matches!(r, Some((200, _))),
        )
        .await;
        if let Err(last) = ready {
            panic!(
                "daemon not ready within 30 s (last /readyz: {last:?}):\n{}",
                self.log_text()
            );
        }
    }

    /// Waits until `/readyz` answers 503 with `why` in its body (e.g. `broker: down`);
    /// fails with the end of the daemon's log after `timeout`.
    pub async fn wait_unready(&self, why: &str, timeout: Duration) {
        let unready = poll_until(
            timeout,
            async || self.get("/readyz"),
            |r| matches!(r, Some((503, body)) if body.contains(why)),
        )
        .await;
        if let Err(last) = unready {
            panic!(
                "/readyz did not drop with {why:?} within {timeout:?} (last: {last:?}):\n{}",
                self.log_tail(40)
            );
        }
    }

    /// A plain HTTP GET on the daemon's port: (status, body).
    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut buf = String::new();
        s.read_to_string(&mut buf).ok()?;
        let status = buf.split_whitespace().nth(1)?.parse().ok()?;
        let body = buf
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        Some((status, body))
    }

    pub fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &pid])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -{sig} {pid}");
    }

    /// Sends SIGTERM and waits up to `limit` for the exit.
    pub async fn terminate(&mut self, limit: Duration) -> Option<ExitStatus> {
        self.signal("TERM");
        let exited = poll_until(limit, async || self.exit_status(), Option::is_some)
            .await
            .ok()
            .flatten();
        if exited.is_some() {
            self.child = None;
        }
        exited
    }

    /// Whether the process is still running (it has not exited, nor been killed).
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// How the process ended, if it has (not if it was killed by [`Daemon::kill`]).
    fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `lines` lines of the log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = self.log_text();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().unwrap().port()
}

/// A realistic lead body.
pub fn lead_json(id: &str, extra: &str) -> String {
    format!(
        r#"{{"id":"{id}","source":"web_form","contact":{{"name":"Pat Doe","email":"pat@example.com","phone":"+1-415-555-0100"}},"address":{{"city":"Sacramento","state":"CA","postal_code":"95814"}}{extra}}}"#
    )
}
