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

/// CPU used by the server and the generator over one interval.
pub struct CpuMeter {
    server: Option<u32>,
    server_start: Option<f64>,
    own_start: Option<f64>,
    started: std::time::Instant,
}

/// Shares of one core (100 % = one core busy) over the interval.
pub struct CpuShare {
    pub server: Option<f64>,
    pub generator: Option<f64>,
}

impl CpuMeter {
    pub fn start(server: Option<u32>) -> Self {
        Self {
            server,
            server_start: server.and_then(cpu_seconds),
            own_start: own_cpu_seconds(),
            started: std::time::Instant::now(),
        }
    }

    pub fn stop(&self) -> CpuShare {
        let wall = self.started.elapsed().as_secs_f64().max(1e-9);
        let share = |start: Option<f64>, end: Option<f64>| Some((end? - start?) / wall * 100.0);
        CpuShare {
            server: share(self.server_start, self.server.and_then(cpu_seconds)),
            generator: share(self.own_start, own_cpu_seconds()),
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
    fn this_process_is_visible() {
        assert!(own_cpu_seconds().is_some());
        assert!(memory_mib(std::process::id()).is_some_and(|(rss, peak)| rss > 0.0 && peak >= rss));
    }
}
