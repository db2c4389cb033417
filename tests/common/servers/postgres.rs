//! A PostgreSQL of the test's own: `initdb` into a temporary directory, the `postgres`
//! server of the same installation on 127.0.0.1 and a free port, trust authentication, no
//! Unix socket.
use super::{
    RunAs, ServerDir, find_bin_dir, kill_with_children, path_dirs, signal, spawn_server, tail,
};
use crate::wait::poll_until;
use sqlx::{Connection, PgConnection};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// How long a start (crash recovery included) or a stop may take on a loaded machine.
const START_TIMEOUT: Duration = Duration::from_secs(90);
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

pub struct PrivatePostgres {
    port: u16,
    bin: PathBuf,
    data: PathBuf,
    log: PathBuf,
    user: Option<RunAs>,
    /// The postmaster, leader of its process group; `None` while stopped or killed.
    child: Option<Child>,
    dir: ServerDir,
}

impl PrivatePostgres {
    /// Creates a cluster with `initdb` and starts it; fails the test with the reason if
    /// either does not work.
    pub async fn start() -> PrivatePostgres {
        let began = Instant::now();
        let bin = bin_dir();
        let user = RunAs::for_server("postgres");
        let dir = ServerDir::new("pg", user.as_ref());
        let data = dir.path().join("data");
        let log = dir.path().join("postgres.log");
        init_cluster(&bin, &data, user.as_ref()).await;
        let port = super::free_port();
        write_config(&data, port);
        let mut pg = PrivatePostgres {
            port,
            bin,
            data,
            log,
            user,
            child: None,
            dir,
        };
        pg.start_again().await;
        eprintln!(
            "private PostgreSQL on 127.0.0.1:{port} ({}) up in {:.1} s",
            pg.dir.path().display(),
            began.elapsed().as_secs_f64()
        );
        pg
    }

    /// The server's URL without a database (as `TEST_DATABASE_URL`): user `postgres`,
    /// no password.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the postmaster runs (it may still be starting or recovering).
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Whether it accepts a connection now.
    pub async fn accepting(&self) -> bool {
        let url = format!("{}/postgres", self.url());
        match tokio::time::timeout(Duration::from_secs(5), PgConnection::connect(&url)).await {
            Ok(Ok(conn)) => {
                let _ = conn.close().await;
                true
            }
            _ => false,
        }
    }

    /// Starts the server again after [`stop`](Self::stop) or [`kill`](Self::kill), on the
    /// same port and data (after a kill it recovers from its WAL first), and waits until it
    /// accepts connections.
    pub async fn start_again(&mut self) {
        assert!(self.child.is_none(), "PostgreSQL is already running");
        let mut postgres = Command::new(self.bin.join("postgres"));
        postgres.arg("-D").arg(&self.data);
        self.child = Some(spawn_server(
            postgres,
            self.dir.path(),
            self.user.as_ref(),
            &self.log,
        ));
        let started = poll_until(
            START_TIMEOUT,
            async || {
                if let Some(status) = self
                    .child
                    .as_mut()
                    .and_then(|c| c.try_wait().ok().flatten())
                {
                    self.child = None;
                    panic!(
                        "private PostgreSQL exited while starting ({status})\n{}",
                        tail(&self.log, 40)
                    );
                }
                self.accepting().await
            },
            |up| *up,
        )
        .await;
        if started.is_err() {
            panic!(
                "private PostgreSQL on port {} not accepting connections within {START_TIMEOUT:?}\n{}",
                self.port,
                tail(&self.log, 40)
            );
        }
    }

    /// A fast shutdown (what `pg_ctl stop -m fast` asks): sessions are ended, a checkpoint
    /// written; returns once the postmaster has exited, so connections are refused.
    pub async fn stop(&mut self) {
        let mut child = self.child.take().expect("PostgreSQL is running");
        signal(&child, libc::SIGINT);
        if !super::wait_exit(&mut child, STOP_TIMEOUT).await {
            kill_with_children(&mut child);
            panic!(
                "private PostgreSQL did not stop within {STOP_TIMEOUT:?}\n{}",
                tail(&self.log, 40)
            );
        }
    }

    /// [`stop`](Self::stop), then [`start_again`](Self::start_again): what
    /// `pg_ctl restart` does.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.start_again().await;
    }

    /// SIGKILL to the postmaster and every backend at once, as a power loss would leave
    /// the data directory: no shutdown checkpoint; the next start recovers from the WAL.
    /// (A SIGKILL of the postmaster alone would leave its backends running for a moment,
    /// and a new postmaster refuses to start while they hold the old shared memory.)
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("PostgreSQL is running");
        kill_with_children(&mut child);
    }

    /// The postmaster's pid (`None` while stopped). Its backends are its children, each in
    /// a process group of its own.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The temporary directory holding its data and log (removed on drop).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's log (for a failure message).
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log, lines)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // An immediate shutdown ends the backends and frees the shared memory; a
            // SIGKILL (if that hangs) leaves a SysV segment, removed below.
            signal(&child, libc::SIGQUIT);
            let deadline = Instant::now() + Duration::from_secs(5);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            kill_with_children(&mut child);
        }
        remove_shared_memory(&self.data);
    }
}

/// The installation's binaries: `TEST_PG_BIN`, else the newest
/// `/usr/lib/postgresql/*/bin` (Debian, Ubuntu), else `pg_config --bindir`, else `PATH`.
fn bin_dir() -> PathBuf {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(dir) = std::env::var_os("TEST_PG_BIN") {
        candidates.push(dir.into());
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            Some((v, e.path().join("bin")))
        })
        .collect();
    versions.sort();
    candidates.extend(versions.into_iter().rev().map(|(_, dir)| dir));
    if let Ok(out) = std::process::Command::new("pg_config")
        .arg("--bindir")
        .output()
        && out.status.success()
    {
        candidates.push(String::from_utf8_lossy(&out.stdout).trim().into());
    }
    candidates.extend(path_dirs());
    find_bin_dir("initdb", candidates).unwrap_or_else(|| {
        panic!(
            "no PostgreSQL server binaries (initdb, postgres) found in TEST_PG_BIN, \
             /usr/lib/postgresql/*/bin, `pg_config --bindir` or PATH: install the PostgreSQL \
             server package (it need not run), or set TEST_PG_BIN to its bin directory"
        )
    })
}

/// `initdb`: superuser `postgres`, trust authentication, UTF-8, no fsync of its files.
async fn init_cluster(bin: &Path, data: &Path, user: Option<&RunAs>) {
    let mut initdb = tokio::process::Command::new(bin.join("initdb"));
    initdb
        .arg("-D")
        .arg(data)
        .args([
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        ])
        .kill_on_drop(true);
    if let Some(user) = user {
        initdb.uid(user.uid).gid(user.gid);
    }
    let out = tokio::time::timeout(Duration::from_secs(120), initdb.output())
        .await
        .unwrap_or_else(|_| panic!("initdb {} took over 120 s", data.display()))
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.join("initdb").display()));
    assert!(
        out.status.success(),
        "initdb {} failed ({}):\n{}{}",
        data.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn write_config(data: &Path, port: u16) {
    let conf = data.join("postgresql.conf");
    let mut text =
        std::fs::read_to_string(&conf).unwrap_or_else(|e| panic!("read {}: {e}", conf.display()));
    text.push_str(&format!(
        "\n# The test's own server (tests/common/servers/postgres.rs)\n\
         listen_addresses = '127.0.0.1'\n\
         port = {port}\n\
         # TCP only: no socket in a directory other servers use.\n\
         unix_socket_directories = ''\n\
         # Its files live in the data directory, removed with it, even after a SIGKILL.\n\
         dynamic_shared_memory_type = mmap\n\
         # The faults are process kills and restarts, never a machine crash: what the\n\
         # kernel was handed survives them without an fsync.\n\
         fsync = off\n"
    ));
    // Written as the test's user into a directory initdb made: keep the file's owner.
    std::fs::write(&conf, text).unwrap_or_else(|e| panic!("write {}: {e}", conf.display()));
}

/// Removes the SysV shared memory segment a killed postmaster leaves: the one named on
/// line 7 of `postmaster.pid` ("key id"), if it still has that key (the kernel frees it
/// once the last process still attached exits). Nothing once the file is gone (a clean
/// shutdown removed both).
#[cfg(target_os = "linux")]
pub(super) fn remove_shared_memory(data: &Path) {
    let Ok(pid_file) = std::fs::read_to_string(data.join("postmaster.pid")) else {
        return;
    };
    let mut fields = pid_file
        .lines()
        .nth(6)
        .unwrap_or_default()
        .split_whitespace();
    let (Some(Ok(key)), Some(Ok(shmid))) = (
        fields.next().map(str::parse::<libc::key_t>),
        fields.next().map(str::parse::<libc::c_int>),
    ) else {
        return;
    };
    // SAFETY: `stat` is a valid buffer for IPC_STAT; IPC_RMID takes none.
    unsafe {
        let mut stat: libc::shmid_ds = std::mem::zeroed();
        if libc::shmctl(shmid, libc::IPC_STAT, &mut stat) == 0 && stat.shm_perm.__key == key {
            libc::shmctl(shmid, libc::IPC_RMID, std::ptr::null_mut());
        }
    }
}

#[cfg(not(target_os = "linux"))]
pub(super) fn remove_shared_memory(_data: &Path) {}
