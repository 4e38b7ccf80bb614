//! What Linux says about a process: resident memory and CPU time, from `/proc`.

/// Clock ticks per second of `utime`/`stime` (`getconf CLK_TCK`; 100 on every Linux we run on).
const TICKS_PER_SECOND: f64 = 100.0;

/// Resident memory and its peak, in MiB (`VmRSS`, `VmHWM` of `/proc/<pid>/status`).
pub fn memory_mib(pid: u32) -> Option<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse::<f64>().ok())
            .map(|kib| kib / 1024.0)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// CPU seconds (user + system) a process has used so far; `None` when it is gone.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    cpu_from(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// CPU seconds the threads of `pid` named `name` have used so far (`/proc/<pid>/task`);
/// `None` when it has none (a server that is not Hato's, or is gone).
pub fn thread_cpu_seconds(pid: u32, name: &str) -> Option<f64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = None;
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        if thread_name(&stat) == Some(name) {
            *total.get_or_insert(0.0) += cpu_from(&stat).unwrap_or(0.0);
        }
    }
    total
}

fn thread_name(stat: &str) -> Option<&str> {
    Some(&stat[stat.find('(')? + 1..stat.rfind(')')?])
}

/// CPU seconds used by this process (the load generator).
pub fn own_cpu_seconds() -> Option<f64> {
    cpu_from(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

fn cpu_from(stat: &str) -> Option<f64> {
    // The command name is in parentheses and may hold spaces: count fields after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3 of the line, utime 14 and stime 15.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SECOND)
}

/// The one-minute load average, to put next to every figure on a shared machine.
pub fn loadavg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// The store's writer thread (`hato_store::writer`): every write transaction runs there,
/// SQLite's statements themselves, or the client side of PostgreSQL's.
const WRITER_THREAD: &str = "hato-writer";

/// CPU used by the server, its writer thread and the generator over one interval.
pub struct CpuMeter {
    server: Option<u32>,
    server_start: Option<f64>,
    writer_start: Option<f64>,
    own_start: Option<f64>,
    started: std::time::Instant,
}

/// CPU seconds used over the interval, and its length.
pub struct CpuUsed {
    pub server: Option<f64>,
    pub writer: Option<f64>,
    pub generator: Option<f64>,
    pub wall: f64,
}

impl CpuUsed {
    /// `seconds` as a share of one core (100 % = one core busy all along).
    pub fn percent(&self, seconds: f64) -> f64 {
        seconds / self.wall * 100.0
    }
}

impl CpuMeter {
    pub fn start(server: Option<u32>) -> Self {
        Self {
            server,
            server_start: server.and_then(cpu_seconds),
            writer_start: server.and_then(|pid| thread_cpu_seconds(pid, WRITER_THREAD)),
            own_start: own_cpu_seconds(),
            started: std::time::Instant::now(),
        }
    }

    pub fn stop(&self) -> CpuUsed {
        let used = |start: Option<f64>, end: Option<f64>| Some(end? - start?);
        CpuUsed {
            server: used(self.server_start, self.server.and_then(cpu_seconds)),
            writer: used(
                self.writer_start,
                self.server
                    .and_then(|pid| thread_cpu_seconds(pid, WRITER_THREAD)),
            ),
            generator: used(self.own_start, own_cpu_seconds()),
            wall: self.started.elapsed().as_secs_f64().max(1e-9),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_spaces_in_the_name_parse() {
        let line = "42 (a b) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0 5 6 7";
        assert_eq!(cpu_from(line), Some(3.0));
    }

    #[test]
    fn threads_are_found_by_name() {
        let pid = std::process::id();
        std::thread::Builder::new()
            .name("bench-probe".into())
            .spawn(move || {
                assert!(thread_cpu_seconds(pid, "bench-probe").is_some());
            })
            .expect("spawn")
            .join()
            .expect("join");
        assert_eq!(thread_cpu_seconds(pid, "no-such-thread"), None);
        assert_eq!(thread_name("42 (a (b) c) S 1"), Some("a (b) c"));
    }

    #[test]
    fn this_process_is_visible() {
        assert!(own_cpu_seconds().is_some());
        assert!(memory_mib(std::process::id()).is_some_and(|(rss, peak)| rss > 0.0 && peak >= rss));
    }
}
