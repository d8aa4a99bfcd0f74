//! Where the two cores go during a measure: the benchmark's own process (its clients and
//! the load it appends), the dashboard, the store and Redis. Everything shares one
//! machine here, so a figure like the latency says little until one knows how much of
//! the machine the clients took from the server.
//!
//! Read from `/proc/<pid>/stat` (user + system time). The store and Redis are found by
//! process name, so every `secantusd-rs` and `redis-server` on the machine counts.

use crate::BenchError;

/// Clock ticks per second of `/proc`'s times: `USER_HZ`, 100 in Linux's ABI.
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU time used, in seconds, by each party.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    pub bench: f64,
    pub server: f64,
    pub store: f64,
    pub redis: f64,
}

impl Usage {
    /// The time used by each party so far; `server` is the dashboard's process id.
    pub fn now(server: u32) -> Result<Self, BenchError> {
        Ok(Self {
            bench: seconds(std::process::id())?,
            server: seconds(server)?,
            store: named("secantusd-rs")?,
            redis: named("redis-server")?,
        })
    }

    /// What was used between `self` and `later`.
    pub fn until(self, later: Usage) -> Usage {
        Usage {
            bench: later.bench - self.bench,
            server: later.server - self.server,
            store: later.store - self.store,
            redis: later.redis - self.redis,
        }
    }
}

fn seconds(pid: u32) -> Result<f64, BenchError> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name, in parentheses, may hold spaces: count fields after it.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or("no command name in /proc stat")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of stat(5), utime and stime, are the 12th and 13th after the name.
    let ticks = |i: usize| -> Result<u64, BenchError> {
        Ok(fields
            .get(i)
            .and_then(|v| v.parse().ok())
            .ok_or("no CPU times in /proc stat")?)
    };
    Ok((ticks(11)? + ticks(12)?) as f64 / TICKS_PER_SECOND)
}

/// CPU time of every process named `name`.
fn named(name: &str) -> Result<f64, BenchError> {
    let mut total = 0.0;
    for entry in std::fs::read_dir("/proc")? {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        if comm.trim_end() == name {
            // A process that ended meanwhile is not an error.
            total += seconds(pid).unwrap_or(0.0);
        }
    }
    Ok(total)
}
