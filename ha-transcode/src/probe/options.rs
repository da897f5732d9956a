//! How much a probe may read and how long it may take.
//!
//! Why bound it at all: `avformat_find_stream_info` reads packets until it has seen enough of
//! every stream. On a huge file with a late-starting stream, or an endless input, that can mean
//! reading a lot or reading forever, on a thread the server needs back. Three bounds apply:
//!
//! * `probesize` caps the bytes read while analysing (FFmpeg's default is 5 MB);
//! * `analyzeduration` caps the media time analysed (FFmpeg's default is 5 s);
//! * a wall-clock `deadline` enforced through FFmpeg's interrupt callback, which FFmpeg polls
//!   between reads and inside its analysis loop, so a slow disk or an expensive file cannot hold
//!   the thread for longer (the probe then fails with [`Error::ProbeTimeout`]).
//!
//! What the callback cannot do is interrupt a `read()` the kernel blocks forever, as on a FIFO
//! nobody writes to. That is why only regular files are probed unless
//! [`ProbeOptions::allow_special_files`] is set; with it, a FIFO with an endless writer is
//! still bounded by `probesize`, but one whose writer stalls blocks its thread.
//!
//! [`Error::ProbeTimeout`]: crate::Error::ProbeTimeout

use std::time::Duration;

/// Limits of one probe. [`ProbeOptions::default`] suits library scans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeOptions {
    /// Most bytes read while analysing the streams (`probesize`). Default 20 MB.
    pub probe_size: u64,
    /// Most media time analysed (`analyzeduration`). Default 10 s.
    pub analyze_duration: Duration,
    /// Wall-clock limit for the whole probe. Default 30 s.
    pub deadline: Duration,
    /// Also probe FIFOs, sockets and devices (never directories). Default `false`: see the
    /// module docs for why.
    pub allow_special_files: bool,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        ProbeOptions {
            probe_size: 20_000_000,
            analyze_duration: Duration::from_secs(10),
            deadline: Duration::from_secs(30),
            allow_special_files: false,
        }
    }
}
