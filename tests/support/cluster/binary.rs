//! Where the reference-server binary is. Cargo puts a package's binaries in `<profile>/`, next
//! to the `<profile>/deps/` directory the running test or bench binary lives in, so a debug test
//! finds the debug server and the release harness the release one.
//!
//! The binary is `ha-test-server`, this package's own target: `media-ha-server`'s `main`, built
//! by cargo whenever this package's tests are, so a test never runs a stale server.

use std::path::{Path, PathBuf};

/// The name of the server binary the process-level tests and benches spawn.
pub const SERVER_BINARY: &str = "ha-test-server";

/// The reference-server binary of the running binary's profile.
pub fn server_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // <target>/<profile>/deps/<name>-HASH → <target>/<profile>/ha-test-server
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test or bench binary lives in <target>/<profile>/deps");
    let bin = profile_dir.join(SERVER_BINARY);
    assert!(
        bin.is_file(),
        "{} is missing: build it with `cargo build [--release] -p ha-test-support --bin \
         {SERVER_BINARY}` (`cargo test -p ha-test-support` builds it too; scripts/bench.sh builds \
         the release one)",
        bin.display()
    );
    bin
}
