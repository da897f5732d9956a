//! CPU seconds from /proc/self/stat: this process's own (`utime + stime`) and its reaped
//! children's (`cutime + cstime`, the Linux view of `getrusage(RUSAGE_CHILDREN)`), without an
//! unsafe FFI call.
//!
//! Only children that have exited *and been waited for* are counted, so callers take the
//! second reading after every child of a phase has been reaped.

/// Children's user + system CPU time in seconds so far.
pub fn children_cpu_secs() -> f64 {
    // Fields after the ")" that closes the command name start at field 3 (state) = index 0:
    // utime is field 14, stime 15, cutime 16, cstime 17.
    stat_secs(13, 14)
}

/// This process's own user + system CPU time in seconds so far.
pub fn self_cpu_secs() -> f64 {
    stat_secs(11, 12)
}

fn stat_secs(a: usize, b: usize) -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(a) + ticks(b)) / clock_ticks()
}

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}
