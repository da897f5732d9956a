//! The results: one [`Figure`] per comparison row, written as `RESULTS.md` and `results.json`.
//!
//! Every figure is a ratio of ours to a peer measured in the same run on the same machine,
//! because absolute numbers on a shared 2-core box move by tens of percent between runs while
//! ratios taken seconds apart move much less.

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Whether a higher or a lower number is better for a figure.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    /// Throughput-like: ratio = ours / peer.
    Higher,
    /// Time-like: ratio = peer / ours (so ≥ 1 still means "we are at least as good").
    Lower,
}

/// One row of the table (read back by `merge` for partial runs).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Figure {
    /// Issue item (1–8; 9: library scale, issue 19; 10: the web client, issue 15) this row belongs to.
    pub item: u8,
    /// What is measured.
    pub name: String,
    /// Unit of `ours` / `peer`.
    pub unit: String,
    /// Our number.
    pub ours: Option<f64>,
    /// The peer's number.
    pub peer: Option<f64>,
    /// What the peer is.
    pub peer_name: String,
    /// Direction.
    pub better: Better,
    /// Target ratio (ours relative to peer, ≥), if the issue sets one.
    pub target: Option<f64>,
    /// The peer command line (ours is the harness itself).
    pub command: String,
    /// Free text: latency percentiles, round trips, why not measured.
    pub note: String,
    /// Raw measurements for results.json.
    pub raw: Value,
}

impl Figure {
    /// ours relative to peer, oriented so that ≥ 1 is "at least as good".
    pub fn ratio(&self) -> Option<f64> {
        let (o, p) = (self.ours?, self.peer?);
        if o <= 0.0 || p <= 0.0 {
            return None;
        }
        Some(match self.better {
            Better::Higher => o / p,
            Better::Lower => p / o,
        })
    }

    /// "met", "MISSED" or "—".
    pub fn verdict(&self) -> &'static str {
        match (self.ratio(), self.target) {
            (Some(r), Some(t)) if r >= t => "met",
            (Some(_), Some(_)) => "MISSED",
            _ => "—",
        }
    }
}

fn num(v: Option<f64>) -> String {
    match v {
        None => "—".into(),
        Some(v) if v >= 1000.0 => format!("{v:.0}"),
        Some(v) if v >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.3}"),
    }
}

/// The heading under which other commands keep their tables in `RESULTS.md` (e.g.
/// `cargo bench -p ha-transcode --bench segment_wait`); a harness run keeps that part.
const OTHER_COMMANDS: &str = "## Measured by other commands";

/// Writes `RESULTS.md` and `results.json` into `dir`.
pub fn write(dir: &Path, figures: &[Figure], header: &RunInfo) -> std::io::Result<()> {
    let mut md = String::new();
    let _ = writeln!(md, "# Side-by-side results\n");
    let _ = writeln!(
        md,
        "Produced by `{}` on {} ({}; mode: {}). **Do not edit by hand**: rerun the command.\n",
        header.command, header.date, header.machine, header.mode
    );
    let _ = writeln!(md, "{}\n", header.caveat);
    let _ = writeln!(
        md,
        "Ratio is oriented so that ≥ 1 means ours is at least as good as the peer \
         (ours/peer for rates, peer/ours for times).\n"
    );
    let _ = writeln!(
        md,
        "| # | figure | ours | peer | peer is | ratio | target | verdict | notes |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|");
    for f in figures {
        let _ = writeln!(
            md,
            "| {} | {} ({}) | {} | {} | {} | {} | {} | {} | {} |",
            f.item,
            f.name,
            f.unit,
            num(f.ours),
            num(f.peer),
            f.peer_name,
            f.ratio().map_or("—".into(), |r| format!("{r:.2}×")),
            f.target.map_or("—".into(), |t| format!("≥ {t}×")),
            f.verdict(),
            f.note.replace('|', "\\|"),
        );
    }
    let _ = writeln!(md, "\n## Peer commands\n");
    for f in figures.iter().filter(|f| !f.command.is_empty()) {
        let _ = writeln!(md, "- **{}**: `{}`", f.name, f.command);
    }
    if !header.discussion.is_empty() {
        let _ = writeln!(md, "\n## Targets not met, and what would close them\n");
        let _ = writeln!(md, "{}", header.discussion);
    }
    // Tables other commands write into the same file (each names its command) are kept.
    if let Some(kept) = std::fs::read_to_string(dir.join("RESULTS.md"))
        .ok()
        .and_then(|old| old.find(OTHER_COMMANDS).map(|i| old[i..].to_owned()))
    {
        let _ = write!(md, "\n{kept}");
    }
    std::fs::write(dir.join("RESULTS.md"), md)?;
    let json = serde_json::json!({
        "command": header.command,
        "date": header.date,
        "machine": header.machine,
        "mode": header.mode,
        "figures": figures.iter().map(|f| {
            let mut v = serde_json::to_value(f).unwrap_or(Value::Null);
            v["ratio"] = serde_json::json!(f.ratio());
            v["verdict"] = serde_json::json!(f.verdict());
            v
        }).collect::<Vec<_>>(),
    });
    std::fs::write(
        dir.join("results.json"),
        serde_json::to_string_pretty(&json).unwrap_or_default() + "\n",
    )
}

/// Run metadata printed above the table.
#[derive(Debug, Clone, Default)]
pub struct RunInfo {
    /// The command that produced the file.
    pub command: String,
    /// UTC date/time.
    pub date: String,
    /// CPU count, kernel.
    pub machine: String,
    /// quick or full.
    pub mode: String,
    /// A line on how noisy the machine was.
    pub caveat: String,
    /// Paragraphs for missed targets.
    pub discussion: String,
}
