//! Partial runs (`--only …`) and the one results table.
//!
//! RESULTS.md is a single table, and a full run takes a quarter of an hour on the shared
//! machine, so a run that measured one section must not wipe the rows of the others. Before
//! writing, a partial run reads the previous `results.json` and keeps every *measured* row it
//! did not produce itself, tagged in its note with the command and date it came from (a tag
//! that is already there stays: it names the run that measured the row). A row counts as
//! "produced again" when this run has a row of the same name up to digits, so "median of 2"
//! replaces "median of 5" and a clip-length change replaces the old row. Placeholders
//! ("not yet measured") are never kept: this run writes its own.

use std::path::Path;

use serde::Deserialize;

use crate::report::Figure;

/// The parts of a previous `results.json` a merge needs.
#[derive(Debug, Deserialize)]
struct Earlier {
    command: String,
    date: String,
    figures: Vec<Figure>,
}

/// How a kept row's note starts.
const KEPT: &str = "kept from `";

/// Adds the rows of `out/results.json` that `figures` does not measure (see the module docs)
/// and returns a sentence for the header ("" when nothing was kept).
pub fn keep_earlier(out: &Path, figures: &mut Vec<Figure>) -> String {
    let path = out.join("results.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return String::new();
    };
    let earlier: Earlier = match serde_json::from_str(&text) {
        Ok(e) => e,
        Err(e) => {
            eprintln!(
                "[harness] {}: unreadable ({e}); earlier rows not kept",
                path.display()
            );
            return String::new();
        }
    };
    let fresh: Vec<String> = figures.iter().map(|f| key(&f.name)).collect();
    let mut kept = 0;
    for mut f in earlier.figures {
        if f.ours.is_none() || fresh.contains(&key(&f.name)) {
            continue;
        }
        if !f.note.starts_with(KEPT) {
            f.note = format!("{KEPT}{}` ({}); {}", earlier.command, earlier.date, f.note);
        }
        figures.push(f);
        kept += 1;
    }
    figures.sort_by_key(|f| f.item);
    if kept == 0 {
        return String::new();
    }
    format!(
        " Partial run: the {kept} rows whose notes start with \"kept from\" were not measured by \
         this command; each names the command and date that measured it."
    )
}

/// A row's identity across runs: its name without digits.
fn key(name: &str) -> String {
    name.chars().filter(|c| !c.is_ascii_digit()).collect()
}
