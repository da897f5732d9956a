//! Is Intel Quick Sync usable on this node? Probed once per process, cached.
//!
//! Three stages, cheapest first: does the render node exist, does a QSV device open on it,
//! does a test frame encode with `h264_qsv`. Debian's FFmpeg ships `h264_qsv` even on machines
//! without an Intel GPU, where opening it fails ("Error initializing an internal MFX session:
//! unsupported"), so "the encoder exists" proves nothing. The result is cached in a
//! [`OnceLock`]: a node's hardware does not change while it runs, and a failed probe must not
//! be retried for every job.

use std::ffi::CString;
use std::path::Path;
use std::sync::OnceLock;

use ffmpeg_next::{codec, encoder, format, frame, Dictionary, Packet, Rational};

use super::qsv::render_node;

/// Which probe stage failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeStage {
    /// The render node (`/dev/dri/renderD128` by default) is missing.
    RenderNode,
    /// FFmpeg could not create a QSV device on it.
    Device,
    /// The device opened but a test frame did not encode.
    Encode,
}

/// Whether QSV can be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QsvStatus {
    /// Device and encoder work.
    Available,
    /// QSV cannot be used on this node.
    Unavailable {
        /// The stage that failed.
        stage: ProbeStage,
        /// Why, for logs.
        reason: String,
    },
}

impl QsvStatus {
    /// True when QSV can be used.
    pub fn is_available(&self) -> bool {
        matches!(self, QsvStatus::Available)
    }
}

/// The cached status of this process's render node ([`render_node`](super::qsv::render_node):
/// `MEDIA_HA_RENDER_NODE` or `/dev/dri/renderD128`), probed on first call.
pub fn qsv_status() -> &'static QsvStatus {
    static STATUS: OnceLock<QsvStatus> = OnceLock::new();
    STATUS.get_or_init(|| {
        let status = probe_qsv(&render_node());
        if let QsvStatus::Unavailable { stage, reason } = &status {
            tracing::info!(?stage, %reason, "Intel QSV unavailable; transcodes use software");
        }
        status
    })
}

/// Probes `render_node` now (uncached).
pub fn probe_qsv(render_node: &Path) -> QsvStatus {
    if !render_node.exists() {
        return QsvStatus::Unavailable {
            stage: ProbeStage::RenderNode,
            reason: format!("{} does not exist", render_node.display()),
        };
    }
    if let Err(reason) = open_device(render_node) {
        return QsvStatus::Unavailable {
            stage: ProbeStage::Device,
            reason,
        };
    }
    match encode_test_frame() {
        Ok(()) => QsvStatus::Available,
        Err(reason) => QsvStatus::Unavailable {
            stage: ProbeStage::Encode,
            reason,
        },
    }
}

/// Creates (and frees) a QSV device on `node`. ffmpeg-next has no hardware device API.
#[allow(unsafe_code)]
fn open_device(node: &Path) -> Result<(), String> {
    use ffmpeg_next::ffi;
    let path = CString::new(node.to_string_lossy().as_bytes()).map_err(|e| e.to_string())?;
    let mut device: *mut ffi::AVBufferRef = std::ptr::null_mut();
    // SAFETY: `device` is a valid out-pointer, `path` a NUL-terminated string that outlives the
    // call, options are null; on success we own one reference and release it right away.
    let ret = unsafe {
        ffi::av_hwdevice_ctx_create(
            &mut device,
            ffi::AVHWDeviceType::AV_HWDEVICE_TYPE_QSV,
            path.as_ptr(),
            std::ptr::null_mut(),
            0,
        )
    };
    if !device.is_null() {
        // SAFETY: `device` was produced by av_hwdevice_ctx_create and is unreferenced once.
        unsafe { ffi::av_buffer_unref(&mut device) };
    }
    if ret < 0 {
        Err(format!(
            "creating a QSV device failed: {}",
            ffmpeg_next::Error::from(ret)
        ))
    } else {
        Ok(())
    }
}

fn encode_test_frame() -> Result<(), String> {
    ffmpeg_next::init().map_err(|e| e.to_string())?;
    let codec = encoder::find_by_name("h264_qsv").ok_or("FFmpeg lacks h264_qsv")?;
    let mut enc = codec::Context::new_with_codec(codec)
        .encoder()
        .video()
        .map_err(|e| e.to_string())?;
    enc.set_width(256);
    enc.set_height(144);
    enc.set_format(format::Pixel::NV12);
    enc.set_time_base(Rational(1, 25));
    enc.set_frame_rate(Some(Rational(25, 1)));
    let mut opts = Dictionary::new();
    opts.set("async_depth", "1");
    let mut enc = enc
        .open_with(opts)
        .map_err(|e| format!("opening h264_qsv: {e}"))?;
    let mut f = frame::Video::new(format::Pixel::NV12, 256, 144);
    f.set_pts(Some(0));
    enc.send_frame(&f)
        .map_err(|e| format!("encoding a test frame: {e}"))?;
    enc.send_eof().map_err(|e| e.to_string())?;
    let mut p = Packet::empty();
    enc.receive_packet(&mut p)
        .map_err(|e| format!("no packet from the test frame: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_node_is_unavailable_at_the_first_stage() {
        let s = probe_qsv(Path::new("/definitely/not/a/renderD128"));
        assert!(matches!(
            s,
            QsvStatus::Unavailable {
                stage: ProbeStage::RenderNode,
                ..
            }
        ));
        assert!(!s.is_available());
    }
}
