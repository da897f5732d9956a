//! The video encoder on its own thread, fed through a small bounded channel.
//!
//! Why: the run loop used to decode, filter and encode each frame in turn on one thread. While
//! the encoder call waited for libx264 (a free frame thread, the lookahead), nothing was being
//! decoded or scaled, and the worker ran at 0.84–0.95× the ffmpeg CLI's throughput. Now the
//! loop hands each filtered frame to this stage and collects the encoded packets whenever it
//! comes round: decoding and scaling frame *n + 1* overlaps encoding frame *n*.
//!
//! Why this keeps segments exact: there is still exactly one encoder, fed the same frames in
//! the same order with their final timestamps and picture types already set by the loop, so it
//! emits the same packets in the same (decode) order the [`super::assembler`] relies on. Only
//! *when* the loop sees a packet changes, and segment boundaries never depend on that.
//!
//! The channel holds a few frames (`FRAME_QUEUE`): enough to ride over the encoder's uneven
//! call times, small enough that a 1080p run keeps a few MB of frames in flight, and the loop
//! blocks (back-pressure) instead of decoding the whole file ahead of the encoder.

use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

use ffmpeg_next::{encoder, frame, Packet};

use super::{ff, EncodedPacket};
use crate::hls::timeline::{segment_of, MPEGTS_TIME_BASE, TS_OFFSET_90K};
use crate::worker::error::{Result, WorkerError};

/// Frames in flight between the loop and the encoder thread.
const FRAME_QUEUE: usize = 4;

/// A running encoder thread.
pub(super) struct EncodeStage {
    frames: Option<SyncSender<frame::Video>>,
    packets: Receiver<EncodedPacket>,
    thread: Option<JoinHandle<Result<()>>>,
}

impl EncodeStage {
    /// Moves `encoder` (already opened) to a new thread. Packets come back with their segment
    /// (of segments of `segment_ms`) and the MPEG-TS timestamp offset applied.
    ///
    /// # Errors
    /// The OS refused to start a thread.
    pub(super) fn spawn(encoder: encoder::Video, segment_ms: u32) -> Result<Self> {
        let (frames, frame_rx) = mpsc::sync_channel::<frame::Video>(FRAME_QUEUE);
        // Unbounded on the way back: the loop drains it after every demuxed packet, and a
        // bounded one could deadlock with the loop blocked on a full frame queue.
        let (packet_tx, packets) = mpsc::channel::<EncodedPacket>();
        let thread = std::thread::Builder::new()
            .name("ha-encode".into())
            .spawn(move || encode_loop(encoder, segment_ms, &frame_rx, &packet_tx))
            .map_err(WorkerError::EncoderThread)?;
        Ok(Self {
            frames: Some(frames),
            packets,
            thread: Some(thread),
        })
    }

    /// Queues `frame` for encoding, waiting while the queue is full.
    ///
    /// # Errors
    /// The encoder failed (its error, from the thread).
    pub(super) fn send(&mut self, frame: frame::Video) -> Result<()> {
        let sent = self.frames.as_ref().map(|tx| tx.send(frame));
        match sent {
            Some(Ok(())) => Ok(()),
            // The thread stopped early: that only happens on an encoder error.
            _ => {
                self.frames = None;
                self.join()
            }
        }
    }

    /// Moves every packet encoded so far into `out`, without waiting.
    pub(super) fn drain(&self, out: &mut Vec<EncodedPacket>) {
        out.extend(self.packets.try_iter());
    }

    /// Signals the end of the frames, waits for the encoder to flush, and moves every
    /// remaining packet into `out`.
    ///
    /// # Errors
    /// The encoder failed.
    pub(super) fn finish(&mut self, out: &mut Vec<EncodedPacket>) -> Result<()> {
        self.frames = None;
        let result = self.join();
        self.drain(out);
        result
    }

    fn join(&mut self) -> Result<()> {
        match self.thread.take().map(JoinHandle::join) {
            None => Ok(()),
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(WorkerError::InvalidJob(
                "the encoder thread panicked".into(),
            )),
        }
    }
}

impl Drop for EncodeStage {
    /// A run that stops early (an error, the last segment reached) still ends its thread:
    /// closing the frame queue makes the thread flush and return.
    fn drop(&mut self) {
        self.frames = None;
        let _ = self.join();
    }
}

fn encode_loop(
    mut encoder: encoder::Video,
    segment_ms: u32,
    frames: &Receiver<frame::Video>,
    packets: &mpsc::Sender<EncodedPacket>,
) -> Result<()> {
    for frame in frames {
        encoder
            .send_frame(&frame)
            .map_err(ff("encoding a video frame"))?;
        if !receive_packets(&mut encoder, segment_ms, packets) {
            return Ok(()); // the run is gone: nobody wants the rest
        }
    }
    // As before the stage existed: an encoder that cannot be flushed has nothing left to give.
    let _ = encoder.send_eof();
    receive_packets(&mut encoder, segment_ms, packets);
    Ok(())
}

/// Sends every packet the encoder has ready; false when the receiving side is gone.
fn receive_packets(
    encoder: &mut encoder::Video,
    segment_ms: u32,
    out: &mpsc::Sender<EncodedPacket>,
) -> bool {
    let mut packet = Packet::empty();
    while encoder.receive_packet(&mut packet).is_ok() {
        let pts = packet.pts().unwrap_or(0);
        let dts = packet.dts().unwrap_or(pts);
        let segment = segment_of(pts, MPEGTS_TIME_BASE, segment_ms);
        packet.set_pts(Some(pts + TS_OFFSET_90K));
        packet.set_dts(Some(dts + TS_OFFSET_90K));
        let encoded = EncodedPacket {
            segment,
            packet: std::mem::replace(&mut packet, Packet::empty()),
        };
        if out.send(encoded).is_err() {
            return false;
        }
    }
    true
}
