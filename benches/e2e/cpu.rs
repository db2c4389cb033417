//! Who used the CPUs during a timed phase, from /proc: the daemon, PostgreSQL,
//! RabbitMQ, this bench, and everything else (other builds and tests on a shared
//! machine: the noise that the bare/daemon ratio is there to see through).
use std::collections::HashMap;
use std::time::Instant;

/// CPU ticks (USER_HZ: 100 per second on Linux) per process, and the machine's.
pub struct Snapshot {
    at: Instant,
    machine_busy: u64,
    procs: HashMap<u32, (Group, u64)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    Leadrouter,
    Postgres,
    Rabbitmq,
    Bench,
    Other,
}

/// Cores used on average during a phase, per group.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    pub leadrouter: f64,
    pub postgres: f64,
    pub rabbitmq: f64,
    pub bench: f64,
    /// Everything else, including processes that ran and ended within the phase.
    pub other: f64,
    pub cpus: usize,
}

impl Snapshot {
    /// `daemons`: the pids of this run's daemons (any other `leadrouter` is "other").
    pub fn take(daemons: &[u32]) -> Snapshot {
        let me = std::process::id();
        let mut procs = HashMap::new();
        if let Ok(dir) = std::fs::read_dir("/proc") {
            for entry in dir.flatten() {
                let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
                    continue;
                };
                if let Some((comm, ticks)) = stat(pid) {
                    let group = match comm.as_str() {
                        _ if pid == me => Group::Bench,
                        _ if daemons.contains(&pid) => Group::Leadrouter,
                        c if c.starts_with("postgres") => Group::Postgres,
                        "beam.smp" | "erl_child_setup" | "epmd" | "inet_gethost" => Group::Rabbitmq,
                        _ => Group::Other,
                    };
                    procs.insert(pid, (group, ticks));
                }
            }
        }
        Snapshot {
            at: Instant::now(),
            machine_busy: machine_busy(),
            procs,
        }
    }

    /// Average cores used per group since `before`.
    pub fn since(&self, before: &Snapshot) -> Usage {
        let secs = (self.at - before.at).as_secs_f64().max(1e-3);
        let cores = |ticks: u64| ticks as f64 / 100.0 / secs;
        let mut u = Usage {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            ..Usage::default()
        };
        let mut known = 0u64;
        for (pid, (group, ticks)) in &self.procs {
            let used = ticks.saturating_sub(before.procs.get(pid).map_or(0, |(_, t)| *t));
            known += used;
            match group {
                Group::Leadrouter => u.leadrouter += cores(used),
                Group::Postgres => u.postgres += cores(used),
                Group::Rabbitmq => u.rabbitmq += cores(used),
                Group::Bench => u.bench += cores(used),
                Group::Other => {}
            }
        }
        // Other = all busy time minus the named groups (so processes that came and
        // went during the phase, like a compiler run, count).
        let busy = self.machine_busy.saturating_sub(before.machine_busy);
        u.other = cores(busy.saturating_sub(known)) + (cores(known) - u.named());
        u
    }
}

impl Usage {
    fn named(&self) -> f64 {
        self.leadrouter + self.postgres + self.rabbitmq + self.bench
    }
}

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "leadrouter {:.2}, postgres {:.2}, rabbitmq {:.2}, bench {:.2}, other {:.2} (cores, of {})",
            self.leadrouter, self.postgres, self.rabbitmq, self.bench, self.other, self.cpus
        )
    }
}

/// (command name, user + system ticks) of a process.
fn stat(pid: u32) -> Option<(String, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The name is in parentheses and may hold spaces: split at the last ')'.
    let (head, rest) = stat.rsplit_once(')')?;
    let comm = head.split_once('(')?.1.to_owned();
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 (utime, stime) are the 12th and 13th after the name.
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some((comm, ticks))
}

/// Busy ticks of all CPUs since boot (everything but idle and iowait).
fn machine_busy() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return 0;
    };
    let Some(line) = stat.lines().next() else {
        return 0;
    };
    // cpu user nice system idle iowait irq softirq steal
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|x| x.parse().ok())
        .collect();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    v.iter().sum::<u64>() - idle
}
