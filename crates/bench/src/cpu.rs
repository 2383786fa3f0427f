//! Where a run's CPU goes: the CPU time of each process under test, from `/proc`, between two
//! samples. On a machine the run saturates, a target's throughput is bounded by the CPU all
//! of its processes spend per call, so these columns explain a ratio that the req/s alone
//! cannot.

/// `USER_HZ`: the unit of the times in `/proc/PID/stat`, 100 on every Linux ABI the bench
/// runs on.
const TICKS_PER_S: f64 = 100.0;

/// The processes one target runs besides PostgreSQL (always counted, every `postgres`
/// process) and the bench itself (always counted).
#[derive(Debug, Clone, Default)]
pub struct Watched {
    pub orders: Vec<u32>,
    pub txlog: Option<u32>,
    pub ferretdb: Option<u32>,
}

/// CPU ticks, cumulative, per group of processes, and of the whole machine.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    bench: u64,
    orders: u64,
    txlog: u64,
    ferretdb: u64,
    postgres: u64,
    machine_busy: u64,
    machine_all: u64,
}

/// CPU per call in microseconds, by process group, over one run.
#[derive(Debug, Clone, Copy, Default)]
pub struct PerCall {
    pub bench: f64,
    pub orders: f64,
    pub txlog: f64,
    pub ferretdb: f64,
    pub postgres: f64,
    /// Share of the machine's CPU that was busy (all processes), 0 to 1.
    pub machine_busy: f64,
}

impl PerCall {
    pub fn all(&self) -> f64 {
        self.bench + self.orders + self.txlog + self.ferretdb + self.postgres
    }
}

/// utime + stime of one process (all its threads), in ticks.
fn process_ticks(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // The command name may hold spaces; the fields after it are fixed.
            let rest = stat.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: u64 = fields.get(11)?.parse().ok()?;
            let stime: u64 = fields.get(12)?.parse().ok()?;
            Some(utime + stime)
        })
        .unwrap_or(0)
}

/// Every `postgres` process: the server and one backend per connection.
fn postgres_ticks() -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim_end() == "postgres")
        })
        .map(process_ticks)
        .sum()
}

/// (busy, all) ticks of the whole machine from the first line of `/proc/stat`.
fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|t| t.parse().ok())
        .collect();
    let all: u64 = ticks.iter().take(8).sum();
    // idle and iowait are the fourth and fifth.
    let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
    (all - idle, all)
}

impl Watched {
    pub fn sample(&self) -> Sample {
        let (machine_busy, machine_all) = machine_ticks();
        Sample {
            bench: process_ticks(std::process::id()),
            orders: self.orders.iter().copied().map(process_ticks).sum(),
            txlog: self.txlog.map_or(0, process_ticks),
            ferretdb: self.ferretdb.map_or(0, process_ticks),
            postgres: postgres_ticks(),
            machine_busy,
            machine_all,
        }
    }
}

impl Sample {
    /// The CPU spent between `self` and `later`, per call of `calls`.
    pub fn per_call(&self, later: &Sample, calls: u64) -> PerCall {
        let us =
            |a: u64, b: u64| b.saturating_sub(a) as f64 / TICKS_PER_S * 1e6 / calls.max(1) as f64;
        let all = later.machine_all.saturating_sub(self.machine_all);
        PerCall {
            bench: us(self.bench, later.bench),
            orders: us(self.orders, later.orders),
            txlog: us(self.txlog, later.txlog),
            ferretdb: us(self.ferretdb, later.ferretdb),
            postgres: us(self.postgres, later.postgres),
            machine_busy: if all > 0 {
                later.machine_busy.saturating_sub(self.machine_busy) as f64 / all as f64
            } else {
                0.0
            },
        }
    }
}
