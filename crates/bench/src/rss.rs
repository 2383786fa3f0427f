//! Memory of a service process from `/proc`: the peak resident set (`VmHWM`), which can be
//! reset between runs so that each run reports its own peak.

/// Peak resident set size in MiB since start or the last [`reset_peak`].
pub fn peak_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Resets the peak to the current resident set (`echo 5 > /proc/PID/clear_refs`).
pub fn reset_peak(pid: u32) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}
