//! Where the reference-server binary is: cargo builds examples into `<profile>/examples/`,
//! next to the `<profile>/deps/` directory the running test or bench binary lives in, so a
//! debug test finds the debug server and the release harness the release one.

use std::path::{Path, PathBuf};

/// The reference-server example binary of the running binary's profile.
pub fn server_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // <target>/<profile>/deps/<name>-HASH → <target>/<profile>/examples/reference-server
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test or bench binary lives in <target>/<profile>/deps");
    let bin = profile_dir.join("examples").join("reference-server");
    assert!(
        bin.is_file(),
        "{} is missing: build it first with `cargo build [--release] --features full --example \
         reference-server` (a plain `cargo test --features full` builds it too; `--test \
         server_failover` alone does not; scripts/bench.sh builds the release one)",
        bin.display()
    );
    bin
}
