//! Capturing what the servers of a test binary log, to check what never may appear there
//! (passwords, access tokens).
//!
//! `tracing` has one global subscriber per process, so the capture is installed once and
//! collects the logs of every test in the binary; a test looks for its own secrets in all of
//! it, which can only make the check stricter.

use std::io::Write;
use std::sync::{Mutex, OnceLock};

use tracing_subscriber::EnvFilter;

/// Everything logged since [`capture`] was first called.
#[derive(Debug, Default)]
pub struct Logs(Mutex<Vec<u8>>);

impl Logs {
    /// The log text so far.
    pub fn text(&self) -> String {
        let bytes = ha_core::sync::lock(&self.0);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

struct Writer(&'static Logs);

impl Write for Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut bytes = ha_core::sync::lock(&self.0 .0);
        bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the capturing subscriber (once per process) and returns the buffer. Everything is
/// captured at `trace` except the HTTP *client's* own crates (the test's requests carry the
/// secrets on purpose; what matters is what the server logs).
pub fn capture() -> &'static Logs {
    static LOGS: OnceLock<&'static Logs> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs: &'static Logs = Box::leak(Box::default());
        let filter = EnvFilter::new("trace,reqwest=off,hyper_util::client=off,hyper::client=off");
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(move || Writer(logs))
            .try_init()
            .expect("no other global subscriber in this test binary");
        logs
    })
}
