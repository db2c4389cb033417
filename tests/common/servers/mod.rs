//! Servers of a test's own, for the tests that stop, restart, kill or partition one: a
//! PostgreSQL ([`PrivatePostgres`]), a RabbitMQ node ([`PrivateRabbit`]) or a cluster of
//! nodes ([`PrivateRabbitCluster`]), started from the machine's binaries in a temporary
//! directory on free ports. The machine's own servers are never touched: they stay for the
//! ordinary tests (and for whoever else uses them).
//!
//! - A test that cannot start one FAILS with the reason (a missing binary, the server's
//!   log); it never skips.
//! - Each server is a process group of its own; dropping the helper kills the group and
//!   removes the directory, also when the test panics. A run that is itself killed
//!   (Ctrl-C, a CI timeout) cannot run `Drop`: the next run finds its directory by a lock
//!   nobody holds any more, kills what is left of its servers and removes it
//!   (`sweep_leftovers`).
//! - Run as root (as CI does), a server runs as its package's system user (`postgres`,
//!   `rabbitmq`; `LEADROUTER_TEST_SERVER_USER` names another): `initdb` refuses root.
mod cluster;
mod postgres;
mod rabbit;

pub use cluster::PrivateRabbitCluster;
pub use postgres::PrivatePostgres;
pub use rabbit::PrivateRabbit;

use std::collections::HashSet;
use std::ffi::CString;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, Once};
use std::time::Duration;

/// The variable every server process carries (inherited by whatever it forks), naming its
/// directory: how [`sweep_leftovers`] recognises the processes of a dead run.
const MARKER: &str = "LEADROUTER_TEST_SERVER";

/// The user a server runs as when the tests run as root.
#[derive(Clone, Debug)]
pub(crate) struct RunAs {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

impl RunAs {
    /// `None` when the tests do not run as root (the server runs as the test's user);
    /// else `LEADROUTER_TEST_SERVER_USER`, or `default` (the package's system user).
    pub fn for_server(default: &str) -> Option<RunAs> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return None;
        }
        let name = std::env::var("LEADROUTER_TEST_SERVER_USER").unwrap_or_else(|_| default.into());
        match lookup_user(&name) {
            Some((uid, gid)) => Some(RunAs { name, uid, gid }),
            None => panic!(
                "the tests run as root and a private server must not (initdb refuses it): \
                 there is no user {name:?} to run it as; create one or name another in \
                 LEADROUTER_TEST_SERVER_USER"
            ),
        }
    }

    /// Gives `path` to this user (the server writes its files there).
    pub fn own(&self, path: &Path) {
        std::os::unix::fs::chown(path, Some(self.uid), Some(self.gid))
            .unwrap_or_else(|e| panic!("chown {} to {}: {e}", path.display(), self.name));
    }
}

fn lookup_user(name: &str) -> Option<(u32, u32)> {
    let cname = CString::new(name).ok()?;
    // SAFETY: `passwd` is plain data (integers and pointers), valid all zero.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call, the buffer's length is passed.
    let rc = unsafe {
        libc::getpwnam_r(
            cname.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut found,
        )
    };
    (rc == 0 && !found.is_null()).then_some((pwd.pw_uid, pwd.pw_gid))
}

/// A server's temporary directory, owned by this process for its life: a lock on
/// `<dir>.lock` beside it says so (the kernel drops the lock when the process dies,
/// however it dies). Dropping it removes the directory.
pub(crate) struct ServerDir {
    dir: Option<tempfile::TempDir>,
    lock_path: PathBuf,
    _lock: File,
}

impl ServerDir {
    /// A fresh directory for a server of `kind` (`pg`, `rabbit`), given to `owner`.
    pub fn new(kind: &str, owner: Option<&RunAs>) -> ServerDir {
        sweep_leftovers();
        let parent = parent_dir();
        let dir = tempfile::Builder::new()
            .prefix(&format!("{kind}-"))
            .tempdir_in(&parent)
            .unwrap_or_else(|e| panic!("create a server directory in {}: {e}", parent.display()));
        let lock_path = dir.path().with_extension("lock");
        let lock = File::create(&lock_path)
            .unwrap_or_else(|e| panic!("create {}: {e}", lock_path.display()));
        // SAFETY: a valid descriptor; flock has no other precondition.
        let locked = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        assert_eq!(locked, 0, "lock {}", lock_path.display());
        if let Some(user) = owner {
            user.own(dir.path());
        }
        ServerDir {
            dir: Some(dir),
            lock_path,
            _lock: lock,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.as_ref().expect("present until dropped").path()
    }

    /// A subdirectory, given to `owner`.
    pub fn subdir(&self, name: &str, owner: Option<&RunAs>) -> PathBuf {
        let path = self.path().join(name);
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        if let Some(user) = owner {
            user.own(&path);
        }
        path
    }
}

impl Drop for ServerDir {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            let path = dir.path().to_owned();
            if let Err(e) = dir.close() {
                eprintln!("warning: could not remove {}: {e}", path.display());
            }
        }
        let _ = std::fs::remove_file(&self.lock_path);
    }
}

/// Where the server directories live: one parent per user, in the temporary directory.
fn parent_dir() -> PathBuf {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    let parent = std::env::temp_dir().join(format!("leadrouter-test-servers-{uid}"));
    std::fs::create_dir_all(&parent).unwrap_or_else(|e| panic!("create {}: {e}", parent.display()));
    parent
}

/// Once per test process: the directories of runs that died without cleaning up (their
/// lock is free, and older than a few seconds, so not one being created right now). Their
/// servers' processes are killed, found by the [`MARKER`] in their environment; the
/// directories are removed.
pub(crate) fn sweep_leftovers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let Ok(entries) = std::fs::read_dir(parent_dir()) else {
            return;
        };
        for entry in entries.flatten() {
            let lock_path = entry.path();
            if lock_path.extension().is_none_or(|e| e != "lock") {
                continue;
            }
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().unwrap_or_default() > Duration::from_secs(10));
            let Ok(lock) = File::open(&lock_path) else {
                continue;
            };
            // SAFETY: a valid descriptor.
            let free = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if !old || free != 0 {
                continue;
            }
            let dir = lock_path.with_extension("");
            let killed = kill_marked(&dir);
            postgres::remove_shared_memory(&dir.join("data"));
            eprintln!(
                "removing {} left by a test run that was killed ({killed} server processes still ran)",
                dir.display()
            );
            let _ = std::fs::remove_dir_all(&dir);
            let _ = std::fs::remove_file(&lock_path);
        }
    });
}

/// SIGKILLs every process whose environment holds `MARKER=<dir>` or `MARKER=<dir>/…` (a
/// cluster's node); how many there were.
fn kill_marked(dir: &Path) -> usize {
    let wanted = format!("{MARKER}={}", dir.display());
    let marks = |v: &[u8]| {
        v.strip_prefix(wanted.as_bytes())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(b"/"))
    };
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut killed = 0;
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let mut environ = Vec::new();
        if File::open(p.path().join("environ"))
            .and_then(|mut f| f.read_to_end(&mut environ))
            .is_err()
        {
            continue;
        }
        if environ.split(|b| *b == 0).any(marks) {
            // A server's leader takes its whole group. (PostgreSQL's backends, in groups
            // of their own and with their environment overwritten by their process
            // titles, are not found: they exit by themselves once the postmaster is gone.)
            // SAFETY: getpgid and kill have no memory preconditions.
            unsafe {
                let target = if libc::getpgid(pid) == pid { -pid } else { pid };
                libc::kill(target, libc::SIGKILL);
            }
            killed += 1;
        }
    }
    killed
}

/// `command` set up as a server process: a process group of its own (so that killing the
/// group takes every process it forks), run as `user`, stdin closed, stdout and stderr
/// appended to `log`, the [`MARKER`] naming `dir`, and no descriptor of ours beyond the
/// three standard ones (one inherited from a `flock … cargo test` would otherwise be held
/// for as long as the server runs).
pub(crate) fn spawn_server(
    mut command: Command,
    dir: &Path,
    user: Option<&RunAs>,
    log: &Path,
) -> Child {
    let out = append(log);
    let err = out.try_clone().expect("clone the log's descriptor");
    command
        .env(MARKER, dir)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0);
    if let Some(user) = user {
        command.uid(user.uid).gid(user.gid);
    }
    // SAFETY: the closure only makes one async-signal-safe system call.
    unsafe {
        command.pre_exec(|| {
            mark_descriptors_close_on_exec();
            Ok(())
        });
    }
    command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", command.get_program()))
}

/// Marks every descriptor from 3 up close-on-exec (Linux 5.11+; elsewhere a no-op).
fn mark_descriptors_close_on_exec() {
    #[cfg(target_os = "linux")]
    // SAFETY: close_range has no memory preconditions; a kernel without it says ENOSYS.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        );
    }
}

fn append(path: &Path) -> File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

/// Sends `signal` to the process group `child` leads (every process of the server).
pub(crate) fn signal_group(child: &Child, signal: libc::c_int) {
    let pgid = child.id() as libc::pid_t;
    // SAFETY: kill has no memory preconditions.
    unsafe { libc::kill(-pgid, signal) };
}

/// Sends `signal` to `child` alone.
pub(crate) fn signal(child: &Child, signal: libc::c_int) {
    // SAFETY: kill has no memory preconditions.
    unsafe { libc::kill(child.id() as libc::pid_t, signal) };
}

/// SIGKILL to `child` and to every process it forked, and reaps `child`. For a server
/// whose children leave its process group (PostgreSQL puts each backend in a group of its
/// own): `child` is stopped first, so it forks no other nor reacts to its children's
/// death, while they are found (by their parent pid) and killed.
pub(crate) fn kill_with_children(child: &mut Child) {
    let pid = child.id() as libc::pid_t;
    // SAFETY: kill has no memory preconditions.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let forked = live_processes(|_, ppid, _| ppid == pid);
    for &p in &forked {
        // SAFETY: as above.
        unsafe { libc::kill(p, libc::SIGKILL) };
    }
    kill_group(child);
    wait_gone(|p, _, _| forked.contains(&p));
}

/// Kills `child`'s whole process group, reaps `child`, and waits (up to 5 s) until the
/// group's other processes are gone too, so a test sees nothing of the server after this.
pub(crate) fn kill_group(child: &mut Child) {
    let pgid = child.id() as libc::pid_t;
    signal_group(child, libc::SIGKILL);
    let _ = child.wait();
    wait_gone(|_, _, pgrp| pgrp == pgid);
}

/// Waits up to 5 s until no live process is `which(pid, ppid, pgrp)`.
fn wait_gone(which: impl Fn(libc::pid_t, libc::pid_t, libc::pid_t) -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !live_processes(&which).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The processes, zombies left out, for which `which(pid, ppid, pgrp)` holds (from
/// `/proc`; none where there is no `/proc`).
fn live_processes(
    which: impl Fn(libc::pid_t, libc::pid_t, libc::pid_t) -> bool,
) -> Vec<libc::pid_t> {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    procs
        .flatten()
        .filter_map(|p| {
            let pid = p.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(p.path().join("stat")).ok()?;
            // After the command's closing parenthesis: state, ppid, pgrp.
            let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
            let state = fields.next()?;
            let ppid = fields.next()?.parse().ok()?;
            let pgrp = fields.next()?.parse().ok()?;
            (state != "Z" && which(pid, ppid, pgrp)).then_some(pid)
        })
        .collect()
}

/// Waits up to `timeout` for `child` to exit; whether it did.
pub(crate) async fn wait_exit(child: &mut Child, timeout: Duration) -> bool {
    crate::wait::poll_until(
        timeout,
        async || child.try_wait().ok().flatten(),
        Option::is_some,
    )
    .await
    .is_ok()
}

/// A port on 127.0.0.1 nothing listens on now, not handed out before by this process (a
/// server binds it only later, and again after each restart).
///
/// It is taken below the kernel's ephemeral range (`ip_local_port_range`), from 20000 up:
/// a port there is never given to another program's outgoing connection or `bind(0)` in
/// the meantime, nor to the daemon's own reconnection attempts while its server is down.
/// 25672 is left to the machine's RabbitMQ (its distribution port).
pub(crate) fn free_port() -> u16 {
    static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    let given = given.get_or_insert_with(HashSet::new);
    let below = ephemeral_ports_start();
    for _ in 0..1000 {
        let port = if below > 21_000 {
            let span = u128::from(below - 20_000);
            20_000 + (uuid::Uuid::new_v4().as_u128() % span) as u16
        } else {
            // No room below the ephemeral range: any port the kernel says is free.
            let any = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
            any.local_addr().expect("its address").port()
        };
        if port != 25_672
            && !given.contains(&port)
            && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
        {
            given.insert(port);
            return port;
        }
    }
    panic!("no free port on 127.0.0.1 below {below}");
}

/// The first port of the kernel's ephemeral range (32768 when it cannot be read).
fn ephemeral_ports_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

/// The last `lines` lines of a log file (for a failure message).
pub(crate) fn tail(path: &Path, lines: usize) -> String {
    let mut text = String::new();
    if let Ok(mut f) = File::open(path) {
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let _ = f.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
        let mut bytes = Vec::new();
        let _ = f.read_to_end(&mut bytes);
        text = String::from_utf8_lossy(&bytes).into_owned();
    }
    let all: Vec<&str> = text.lines().collect();
    format!(
        "--- {} (last {lines} lines) ---\n{}",
        path.display(),
        all[all.len().saturating_sub(lines)..].join("\n")
    )
}

/// The first directory of `candidates` holding `program` (an executable file).
pub(crate) fn find_bin_dir(
    program: &str,
    candidates: impl IntoIterator<Item = PathBuf>,
) -> Option<PathBuf> {
    candidates
        .into_iter()
        .find(|dir| dir.join(program).is_file())
}

/// The directories of `PATH`.
pub(crate) fn path_dirs() -> Vec<PathBuf> {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default()
}
