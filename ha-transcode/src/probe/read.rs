//! Opening a file with FFmpeg and turning what it finds into a [`MediaProbe`].

use std::path::Path;
use std::sync::Once;
use std::time::Instant;

use ffmpeg_next::format::stream::{Disposition, Stream};
use ffmpeg_next::media::Type;
use ffmpeg_next::{Dictionary, Rational};

use super::classify::{classify_hdr, container_name, is_text_subtitle, parse_dovi};
use super::first_frame::first_frame_hdr;
use super::hdr_meta::{content_light, mastering_display};
use super::model::{AudioInfo, MediaProbe, StreamInfo, StreamKind, SubtitleInfo, VideoInfo};
use super::raw::{read_params, stream_tag};
use super::ProbeOptions;
use crate::{Error, Result};

/// Probes `path` on the calling thread. See [`crate::probe::probe_blocking`].
pub(super) fn probe_file(path: &Path, options: &ProbeOptions) -> Result<MediaProbe> {
    let size = check_file(path, options)?;
    init_ffmpeg()?;

    let mut dict = Dictionary::new();
    dict.set("probesize", &options.probe_size.max(32).to_string());
    dict.set(
        "analyzeduration",
        &options.analyze_duration.as_micros().to_string(),
    );
    let started = Instant::now();
    let deadline = started + options.deadline;
    let mut input = ffmpeg_next::format::input_with_interrupt_and_dictionary(
        path,
        move || Instant::now() >= deadline,
        dict,
    )
    .map_err(|source| {
        if Instant::now() >= deadline {
            Error::ProbeTimeout {
                path: path.to_owned(),
                after: options.deadline,
            }
        } else {
            Error::NotMedia {
                path: path.to_owned(),
                source,
            }
        }
    })?;

    let mut streams: Vec<StreamInfo> = input.streams().map(|s| stream_info(&s)).collect();
    add_first_frame_hdr(&mut input, &mut streams);
    if !streams.iter().any(|s| s.kind != StreamKind::Other) {
        return Err(Error::NoStreams {
            path: path.to_owned(),
        });
    }
    let format_name = input.format().name().to_owned();
    let extension = path.extension().and_then(|e| e.to_str());
    Ok(MediaProbe {
        container: container_name(&format_name, extension),
        format_name,
        duration_secs: positive(input.duration())
            .map(|d| d as f64 / f64::from(ffmpeg_next::ffi::AV_TIME_BASE)),
        bit_rate: positive(input.bit_rate()).map(|b| b as u64),
        size,
        streams,
    })
}

/// Refuses what FFmpeg should not open and returns the file size.
fn check_file(path: &Path, options: &ProbeOptions) -> Result<u64> {
    let meta = std::fs::metadata(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    if meta.is_dir() || (!meta.is_file() && !options.allow_special_files) {
        return Err(Error::NotAFile {
            path: path.to_owned(),
        });
    }
    if meta.is_file() && meta.len() == 0 {
        return Err(Error::EmptyFile {
            path: path.to_owned(),
        });
    }
    Ok(meta.len())
}

fn init_ffmpeg() -> Result<()> {
    static INIT: Once = Once::new();
    let mut result = Ok(());
    INIT.call_once(|| result = ffmpeg_next::init());
    result.map_err(|source| Error::Ffmpeg {
        what: "initialise FFmpeg".into(),
        source,
    })
}

fn stream_info(stream: &Stream<'_>) -> StreamInfo {
    let params = stream.parameters();
    let codec = params.id().name().to_owned();
    let kind = match params.medium() {
        Type::Video => StreamKind::Video,
        Type::Audio => StreamKind::Audio,
        Type::Subtitle => StreamKind::Subtitle,
        _ => StreamKind::Other,
    };
    let raw = read_params(stream);
    let disposition = stream.disposition();
    let mut info = StreamInfo {
        index: stream.index(),
        kind,
        profile: raw.profile.clone(),
        level: raw.level,
        bit_rate: positive(params.bit_rate())
            .map(|b| b as u64)
            .or_else(|| stream_tag(stream, "BPS").and_then(|b| b.trim().parse().ok())),
        language: stream_tag(stream, "language").filter(|l| !l.is_empty() && l != "und"),
        title: stream_tag(stream, "title").filter(|t| !t.is_empty()),
        is_default: disposition.contains(Disposition::DEFAULT),
        is_forced: disposition.contains(Disposition::FORCED),
        is_attached_picture: disposition.contains(Disposition::ATTACHED_PIC),
        codec,
        ..StreamInfo::default()
    };
    match kind {
        StreamKind::Video => {
            use ffmpeg_next::codec::packet::side_data::Type as StreamData;
            let side = |kind: StreamData| stream.side_data().find(|sd| sd.kind() == kind);
            let dovi = side(StreamData::DOVI_CONF).and_then(|sd| parse_dovi(sd.data()));
            let (hdr, range_type) =
                classify_hdr(raw.color_transfer.as_deref(), dovi.as_ref(), false);
            info.video = Some(VideoInfo {
                width: raw.width,
                height: raw.height,
                avg_frame_rate: rate(stream.avg_frame_rate()),
                real_frame_rate: rate(stream.rate()),
                pixel_format: raw.pixel_format,
                bit_depth: raw.bit_depth,
                field_order: raw.field_order,
                interlaced: raw.field_order.is_interlaced(),
                color_transfer: raw.color_transfer,
                color_primaries: raw.color_primaries,
                color_space: raw.color_space,
                color_range: raw.color_range,
                hdr,
                range_type,
                dovi,
                mastering_display: side(StreamData::MasteringDisplayMetadata)
                    .and_then(|sd| mastering_display(sd.data())),
                content_light: side(StreamData::ContentLightLevel)
                    .and_then(|sd| content_light(sd.data())),
                hdr10_plus: false,
            });
        }
        StreamKind::Audio => {
            info.audio = Some(AudioInfo {
                channels: raw.channels,
                sample_rate: raw.sample_rate,
                channel_layout: raw.channel_layout,
            });
        }
        StreamKind::Subtitle => {
            info.subtitle = Some(SubtitleInfo {
                is_text: is_text_subtitle(&info.codec),
            });
        }
        StreamKind::Other => {}
    }
    info
}

/// For the main video stream, if it is PQ: decodes its first frame for the HDR10 static
/// metadata the container did not carry and for HDR10+ (see [`super::first_frame`]).
fn add_first_frame_hdr(
    input: &mut ffmpeg_next::format::context::Input,
    streams: &mut [StreamInfo],
) {
    let Some(stream) = streams
        .iter_mut()
        .find(|s| s.kind == StreamKind::Video && !s.is_attached_picture)
    else {
        return;
    };
    let index = stream.index;
    let Some(video) = stream.video.as_mut() else {
        return;
    };
    if video.color_transfer.as_deref() != Some("smpte2084") {
        return;
    }
    let Some(found) = first_frame_hdr(input, index) else {
        return;
    };
    video.mastering_display = video.mastering_display.or(found.mastering_display);
    video.content_light = video.content_light.or(found.content_light);
    video.hdr10_plus = found.hdr10_plus;
    (video.hdr, video.range_type) = classify_hdr(
        video.color_transfer.as_deref(),
        video.dovi.as_ref(),
        video.hdr10_plus,
    );
}

fn positive(v: i64) -> Option<i64> {
    (v > 0 && v != ffmpeg_next::ffi::AV_NOPTS_VALUE).then_some(v)
}

fn rate(r: Rational) -> Option<f64> {
    (r.numerator() > 0 && r.denominator() > 0).then(|| f64::from(r))
}
