//! A RabbitMQ node of the test's own: its own node name (`lrtest-<id>@localhost`), AMQP
//! and distribution ports, data, log and config files, and Erlang cookie, started with
//! the installation's `rabbitmq-server` (not the distribution's wrapper, which would run
//! it as the machine's node user with the machine's cookie) and controlled with
//! `rabbitmqctl -n NODE`.
//!
//! It registers its name with the machine's `epmd` (one per machine, shared by every
//! node; a name of its own disturbs no other). Its cookie is its own, so neither it nor
//! its `rabbitmqctl` can reach the machine's node, nor join its cluster by mistake.
use super::{RunAs, ServerDir, find_bin_dir, kill_group, path_dirs, spawn_server, tail};
use crate::wait::poll_until;
use lapin::{Connection, ConnectionProperties};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Boots take 5-10 s on an idle machine, several times that on a busy one.
pub(crate) const BOOT_TIMEOUT: Duration = Duration::from_secs(180);
const CTL_TIMEOUT: Duration = Duration::from_secs(120);
const STOP_TIMEOUT: Duration = Duration::from_secs(90);

/// One node: its files under `dir`, its cookie in `home` (shared by a cluster's nodes).
pub(crate) struct RabbitNode {
    pub name: String,
    pub port: u16,
    dist_port: u16,
    dir: PathBuf,
    home: PathBuf,
    sbin: PathBuf,
    user: Option<RunAs>,
    log: PathBuf,
    /// The `rabbitmq-server` script, leader of the node's process group.
    child: Option<Child>,
}

impl RabbitNode {
    /// Writes the node's files (in `root`'s subdirectory `sub`); does not start it.
    pub fn prepare(
        root: &ServerDir,
        sub: &str,
        name: String,
        home: &Path,
        user: Option<&RunAs>,
    ) -> RabbitNode {
        let dir = root.subdir(sub, user);
        let port = super::free_port();
        let dist_port = super::free_port();
        root.subdir(&format!("{sub}/mnesia"), user);
        root.subdir(&format!("{sub}/log"), user);
        write(&dir.join("enabled_plugins"), "[].\n"); // no management plugin, no other
        write(&dir.join("rabbitmq-env.conf"), ""); // not the machine's
        write(
            &dir.join("rabbitmq.conf"),
            &format!(
                "# The test's own node (tests/common/servers/rabbit.rs)\n\
                 listeners.tcp.1 = 127.0.0.1:{port}\n\
                 log.console = false\n\
                 log.file.level = info\n"
            ),
        );
        RabbitNode {
            name,
            port,
            dist_port,
            log: dir.join("server.log"),
            dir,
            home: home.to_owned(),
            sbin: sbin_dir(),
            user: user.cloned(),
            child: None,
        }
    }

    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// Starts `rabbitmq-server` (in the foreground of a process group of its own: the
    /// test owns it and its `Drop` can kill it); [`wait_ready`](Self::wait_ready) waits.
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "{} is already running", self.name);
        let d = &self.dir;
        let mut server = Command::new(self.sbin.join("rabbitmq-server"));
        server
            .env_clear()
            .envs(self.common_env())
            .env("RABBITMQ_NODENAME", &self.name)
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("RABBITMQ_CONFIG_FILE", d.join("rabbitmq.conf"))
            .env("RABBITMQ_ADVANCED_CONFIG_FILE", d.join("advanced.config"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", d.join("enabled_plugins"))
            .env("RABBITMQ_MNESIA_BASE", d.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", d.join("log"))
            .env("RABBITMQ_PID_FILE", d.join("node.pid"))
            // Distribution on loopback only, as the machine's node; an epmd this node
            // starts (none runs yet) listens there too.
            .env(
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS",
                "-kernel inet_dist_use_interface {127,0,0,1}",
            )
            .env("ERL_EPMD_ADDRESS", "127.0.0.1")
            .current_dir(d); // where a crash dump would go
        self.child = Some(spawn_server(server, d, self.user.as_ref(), &self.log));
    }

    /// What both the server and `rabbitmqctl` need: the cookie's home, this node's (empty)
    /// env file instead of the machine's, a UTF-8 locale for the CLI.
    fn common_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("PATH", std::env::var("PATH").unwrap_or_default()),
            ("HOME", self.home.display().to_string()),
            ("LANG", "C.UTF-8".into()),
            (
                "RABBITMQ_CONF_ENV_FILE",
                self.dir.join("rabbitmq-env.conf").display().to_string(),
            ),
        ]
    }

    /// Whether the node's process runs (its application may be stopped).
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Waits until the node accepts an AMQP connection; fails with its logs if it exits
    /// first or `timeout` passes.
    pub async fn wait_ready(&mut self, timeout: Duration) {
        let url = self.url();
        let ready = poll_until(
            timeout,
            async || {
                if !self.is_running() {
                    let why = self.failure("exited while starting");
                    self.child = None;
                    panic!("{why}");
                }
                amqp_accepts(&url).await
            },
            |up| *up,
        )
        .await;
        if ready.is_err() {
            panic!(
                "{}",
                self.failure(&format!("not accepting AMQP within {timeout:?}"))
            );
        }
    }

    /// `rabbitmqctl -n NODE args…` (as the node's user, with its cookie); its stdout.
    pub async fn ctl(&self, args: &[&str]) -> Result<String, String> {
        let mut ctl = tokio::process::Command::new(self.sbin.join("rabbitmqctl"));
        ctl.env_clear()
            .envs(self.common_env())
            // Any free port for the CLI's own distribution listener, not the 11 ports
            // every rabbitmqctl on the machine shares by default.
            .env("RABBITMQ_CTL_DIST_PORT_MIN", "0")
            .env("RABBITMQ_CTL_DIST_PORT_MAX", "0")
            .arg("-n")
            .arg(&self.name)
            .args(args)
            .current_dir(&self.dir)
            .kill_on_drop(true);
        if let Some(user) = &self.user {
            ctl.uid(user.uid).gid(user.gid);
        }
        let shown = format!("rabbitmqctl -n {} {}", self.name, args.join(" "));
        let out = match tokio::time::timeout(CTL_TIMEOUT, ctl.output()).await {
            Err(_) => return Err(format!("`{shown}` took over {CTL_TIMEOUT:?}")),
            Ok(Err(e)) => return Err(format!("cannot run `{shown}`: {e}")),
            Ok(Ok(out)) => out,
        };
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "`{shown}` failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// [`ctl`](Self::ctl), failing the test (with the node's log) if the command fails.
    pub async fn ctl_ok(&self, args: &[&str]) -> String {
        match self.ctl(args).await {
            Ok(out) => out,
            Err(e) => panic!("{}", self.failure(&e)),
        }
    }

    /// `rabbitmqctl stop_app`: the node stays up, the broker closes every connection and
    /// refuses new ones.
    pub async fn stop_app(&self) {
        self.ctl_ok(&["stop_app"]).await;
    }

    /// `rabbitmqctl start_app`, then waits for AMQP.
    pub async fn start_app(&mut self) {
        self.ctl_ok(&["start_app"]).await;
        self.wait_ready(BOOT_TIMEOUT).await;
    }

    /// `rabbitmqctl stop`: a graceful shutdown of the whole node; returns once its
    /// process has exited.
    pub async fn stop(&mut self) {
        self.ctl_ok(&["stop"]).await;
        let mut child = self.child.take().expect("the node is running");
        if !super::wait_exit(&mut child, STOP_TIMEOUT).await {
            kill_group(&mut child);
            panic!(
                "{}",
                self.failure(&format!("did not exit within {STOP_TIMEOUT:?} of `stop`"))
            );
        }
    }

    /// SIGKILL to every process of the node, as a crash would.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("the node is running");
        kill_group(&mut child);
    }

    /// A failure message: what happened, and the end of the node's logs.
    pub fn failure(&self, what: &str) -> String {
        format!(
            "private RabbitMQ node {} (AMQP 127.0.0.1:{}): {what}\n{}\n{}",
            self.name,
            self.port,
            tail(&self.log, 30),
            tail(&self.dir.join("log").join(format!("{}.log", self.name)), 30)
        )
    }
}

impl Drop for RabbitNode {
    fn drop(&mut self) {
        // Its data goes with the directory: no need for a graceful stop.
        if let Some(mut child) = self.child.take() {
            kill_group(&mut child);
        }
    }
}

/// A single node. Dropping it kills the node and removes its directory.
pub struct PrivateRabbit {
    node: RabbitNode,
    dir: ServerDir,
}

impl PrivateRabbit {
    /// Starts a fresh node and waits until it accepts AMQP connections; fails the test
    /// with the node's logs if it does not.
    pub async fn start() -> PrivateRabbit {
        let began = Instant::now();
        let user = RunAs::for_server("rabbitmq");
        let dir = ServerDir::new("rabbit", user.as_ref());
        let home = dir.subdir("home", user.as_ref());
        write_cookie(&home, user.as_ref());
        let name = format!("lrtest-{}@localhost", short_id());
        let mut node = RabbitNode::prepare(&dir, "node", name, &home, user.as_ref());
        node.spawn();
        node.wait_ready(BOOT_TIMEOUT).await;
        eprintln!(
            "private RabbitMQ {} on 127.0.0.1:{} up in {:.1} s",
            node.name,
            node.port,
            began.elapsed().as_secs_f64()
        );
        PrivateRabbit { node, dir }
    }

    /// `amqp://guest:guest@127.0.0.1:PORT/%2f` (guest may log in over loopback).
    pub fn url(&self) -> String {
        self.node.url()
    }

    pub fn port(&self) -> u16 {
        self.node.port
    }

    pub fn node_name(&self) -> &str {
        &self.node.name
    }

    /// `rabbitmqctl -n NODE args…`; fails the test if the command fails.
    pub async fn ctl(&self, args: &[&str]) -> String {
        self.node.ctl_ok(args).await
    }

    /// `rabbitmqctl stop_app` (the node stays up; clients are disconnected).
    pub async fn stop_app(&self) {
        self.node.stop_app().await;
    }

    /// `rabbitmqctl start_app`, then waits until AMQP connections are accepted.
    pub async fn start_app(&mut self) {
        self.node.start_app().await;
    }

    /// `rabbitmqctl stop`: the node shuts down; returns once its process has exited.
    pub async fn stop(&mut self) {
        self.node.stop().await;
    }

    /// SIGKILL to the node's processes.
    pub fn kill(&mut self) {
        self.node.kill();
    }

    /// Starts the node again after [`stop`](Self::stop) or [`kill`](Self::kill): same
    /// name, ports and data (durable queues and their persistent messages are back).
    pub async fn start_again(&mut self) {
        self.node.spawn();
        self.node.wait_ready(BOOT_TIMEOUT).await;
    }

    /// The pid of the node's `rabbitmq-server`, which leads the node's process group
    /// (`None` while stopped).
    pub fn pid(&self) -> Option<u32> {
        self.node.child.as_ref().map(Child::id)
    }

    /// The temporary directory holding its data and logs (removed on drop).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn is_running(&mut self) -> bool {
        self.node.is_running()
    }
}

/// Whether `url` takes an AMQP connection now.
pub(crate) async fn amqp_accepts(url: &str) -> bool {
    let connect = Connection::connect(url, ConnectionProperties::default());
    match tokio::time::timeout(Duration::from_secs(5), connect).await {
        Ok(Ok(conn)) => {
            let _ = conn.close(200, "ready".into()).await;
            true
        }
        _ => false,
    }
}

/// The installation's server scripts: `TEST_RABBITMQ_SBIN`, else
/// `/usr/lib/rabbitmq/bin` (Debian, Ubuntu: the real scripts, where `/usr/sbin` holds a
/// wrapper that switches to the machine's node user), else `PATH`.
fn sbin_dir() -> PathBuf {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(dir) = std::env::var_os("TEST_RABBITMQ_SBIN") {
        candidates.push(dir.into());
    }
    candidates.push("/usr/lib/rabbitmq/bin".into());
    candidates.extend(path_dirs().into_iter().filter(|dir| !is_wrapper(dir)));
    find_bin_dir("rabbitmq-server", candidates).unwrap_or_else(|| {
        panic!(
            "no RabbitMQ server scripts (rabbitmq-server, rabbitmqctl) found in \
             TEST_RABBITMQ_SBIN, /usr/lib/rabbitmq/bin or PATH: install the RabbitMQ server \
             package (it need not run), or set TEST_RABBITMQ_SBIN to its sbin directory"
        )
    })
}

/// Whether `dir/rabbitmq-server` is Debian's `rabbitmq-script-wrapper`.
fn is_wrapper(dir: &Path) -> bool {
    std::fs::canonicalize(dir.join("rabbitmq-server")).is_ok_and(|p| {
        p.file_name()
            .is_some_and(|n| n == "rabbitmq-script-wrapper")
    })
}

/// A fresh Erlang cookie in `home`, readable by its owner only (Erlang insists).
pub(crate) fn write_cookie(home: &Path, user: Option<&RunAs>) {
    use std::os::unix::fs::PermissionsExt;
    let path = home.join(".erlang.cookie");
    write(
        &path,
        &uuid::Uuid::new_v4().simple().to_string().to_uppercase(),
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
    if let Some(user) = user {
        user.own(&path);
    }
}

/// Eight hex digits: node names unique per test, short enough to read in a log.
pub(crate) fn short_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_owned()
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}
