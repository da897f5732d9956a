//! Probe against real files made by the ffmpeg CLI (see `support/clips.rs`), and against the
//! bad inputs a library scan meets: corrupt, truncated, empty, text, directories, FIFOs.

mod support;

use std::path::Path;
use std::time::Duration;

use ha_transcode::probe::{
    probe, probe_blocking, probe_blocking_with, ContentLightLevel, DisplayPrimaries, FieldOrder,
    HdrFormat, MediaProbe, ProbeOptions, StreamKind, VideoRangeType,
};
use ha_transcode::Error;
use support::{scratch_dir, Clip};

fn approx(a: Option<f64>, b: f64, tol: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() <= tol)
}

#[test]
fn h264_aac_1080p_mp4() {
    let path = Clip::h264_aac_1080p().make();
    let p = probe_blocking(&path).expect("probe");
    assert_eq!(p.container, "mp4");
    assert!(p.format_name.contains("mp4"), "{}", p.format_name);
    assert!(approx(p.duration_secs, 2.0, 0.1), "{:?}", p.duration_secs);
    assert!(p.bit_rate.is_some_and(|b| b > 0));
    assert_eq!(p.size, std::fs::metadata(&path).unwrap().len());
    assert_eq!(p.streams.len(), 2);

    let v = p.video().expect("video stream");
    assert_eq!((v.index, v.kind), (0, StreamKind::Video));
    assert_eq!(v.codec, "h264");
    assert_eq!(v.profile.as_deref(), Some("High"));
    assert!(v.level.is_some_and(|l| l >= 40), "{:?}", v.level);
    assert!(v.is_default);
    let vi = v.video.as_ref().unwrap();
    assert_eq!((vi.width, vi.height), (1920, 1080));
    assert!(approx(vi.avg_frame_rate, 25.0, 0.01));
    assert!(approx(vi.real_frame_rate, 25.0, 0.01));
    assert_eq!(vi.pixel_format.as_deref(), Some("yuv420p"));
    assert_eq!(vi.bit_depth, Some(8));
    assert!(!vi.interlaced);
    assert_eq!(vi.hdr, HdrFormat::Sdr);
    assert_eq!(vi.range_type, VideoRangeType::Sdr);
    assert!(vi.dovi.is_none());

    let a = p.audio(None).expect("audio stream");
    assert_eq!((a.index, a.codec.as_str()), (1, "aac"));
    assert_eq!(a.profile.as_deref(), Some("LC"));
    let ai = a.audio.as_ref().unwrap();
    assert_eq!((ai.channels, ai.sample_rate), (2, 48_000));
    assert_eq!(ai.channel_layout.as_deref(), Some("stereo"));
    assert!(a.bit_rate.is_some_and(|b| (100_000..160_000).contains(&b)));
}

#[test]
fn hevc_main10_hdr10_mkv() {
    let p = probe_blocking(Clip::hevc10_hdr10().make()).expect("probe");
    assert_eq!(p.container, "mkv");
    let v = p.video().expect("video");
    assert_eq!(v.codec, "hevc");
    assert_eq!(v.profile.as_deref(), Some("Main 10"));
    let vi = v.video.as_ref().unwrap();
    assert_eq!((vi.width, vi.height), (1280, 720));
    assert_eq!(vi.pixel_format.as_deref(), Some("yuv420p10le"));
    assert_eq!(vi.bit_depth, Some(10));
    assert_eq!(vi.color_transfer.as_deref(), Some("smpte2084"));
    assert_eq!(vi.color_primaries.as_deref(), Some("bt2020"));
    assert_eq!(vi.color_space.as_deref(), Some("bt2020nc"));
    assert_eq!(vi.color_range.as_deref(), Some("tv"));
    assert_eq!(vi.hdr, HdrFormat::Hdr10);
    assert_eq!(vi.range_type, VideoRangeType::Hdr10);
    // x265's master-display / max-cll SEI (see the clip): Matroska as ffmpeg writes it does
    // not carry them, so these come from the first decoded frame.
    let md = vi.mastering_display.expect("mastering display");
    assert_eq!(
        md.primaries,
        Some(DisplayPrimaries {
            red: [0.68, 0.32],
            green: [0.265, 0.69],
            blue: [0.15, 0.06],
            white_point: [0.3127, 0.329],
        })
    );
    assert_eq!(md.max_luminance, Some(1000.0));
    assert_eq!(md.min_luminance, Some(0.0001));
    assert_eq!(
        vi.content_light,
        Some(ContentLightLevel {
            max_cll: 1000,
            max_fall: 400
        })
    );
    assert!(!vi.hdr10_plus, "x265 wrote no ST 2094-40 SEI");
    let ai = p.audio(None).unwrap().audio.as_ref().unwrap();
    assert_eq!(ai.channels, 6);
    assert_eq!(ai.channel_layout.as_deref(), Some("5.1"));
}

#[test]
fn hevc_hlg_is_hlg() {
    let p = probe_blocking(Clip::hevc10_hlg().make()).expect("probe");
    let vi = p.video().unwrap().video.clone().unwrap();
    assert_eq!(vi.color_transfer.as_deref(), Some("arib-std-b67"));
    assert_eq!(
        (vi.hdr, vi.range_type),
        (HdrFormat::Hlg, VideoRangeType::Hlg)
    );
    assert!(p.audio(None).is_none());
}

#[test]
fn interlaced_mpeg2_ts() {
    let p = probe_blocking(Clip::mpeg2_interlaced().make()).expect("probe");
    assert_eq!(p.container, "ts");
    assert_eq!(p.format_name, "mpegts");
    let v = p.video().unwrap();
    assert_eq!(v.codec, "mpeg2video");
    assert_eq!(v.profile.as_deref(), Some("Main"));
    let vi = v.video.as_ref().unwrap();
    assert_eq!((vi.width, vi.height), (720, 576));
    assert!(vi.interlaced, "{:?}", vi.field_order);
    assert_eq!(vi.field_order, FieldOrder::TopFirst);
    assert!(approx(vi.avg_frame_rate, 25.0, 0.01));
    assert_eq!(p.audio(None).unwrap().codec, "mp2");
}

#[test]
fn audio_only_aac_and_mp3() {
    let p = probe_blocking(Clip::audio_only_aac().make()).expect("probe");
    assert_eq!(p.container, "m4a");
    assert!(p.video().is_none());
    assert_eq!(p.streams.len(), 1);
    let a = p.audio(None).unwrap();
    assert_eq!(a.codec, "aac");
    assert_eq!(a.language.as_deref(), Some("eng"));
    let ai = a.audio.as_ref().unwrap();
    assert_eq!((ai.channels, ai.sample_rate), (2, 44_100));

    let p = probe_blocking(Clip::audio_only_mp3().make()).expect("probe");
    assert_eq!(p.container, "mp3");
    let a = p.audio(None).unwrap();
    assert_eq!(a.codec, "mp3");
    assert_eq!(
        a.audio.as_ref().unwrap().channel_layout.as_deref(),
        Some("mono")
    );
    assert!(approx(p.duration_secs, 2.0, 0.1), "{:?}", p.duration_secs);
}

#[test]
fn video_without_audio() {
    let p = probe_blocking(Clip::h264_no_audio().make()).expect("probe");
    assert_eq!(p.streams.len(), 1);
    assert!(p.audio(None).is_none());
    let vi = p.video().unwrap().video.clone().unwrap();
    assert!(
        approx(vi.avg_frame_rate, 29.97, 0.01),
        "{:?}",
        vi.avg_frame_rate
    );
}

#[test]
fn tags_and_dispositions() {
    // Two audio tracks and a text subtitle in Matroska, with languages, titles and flags.
    let dir = scratch_dir("tags");
    let srt = dir.join("subs.srt");
    std::fs::write(&srt, "1\n00:00:00,000 --> 00:00:01,000\nHello\n").unwrap();
    let clip = Clip::new("tagged.mkv")
        .video(320, 240, "25")
        .audio(48_000)
        .args([
            "-i",
            srt.to_str().unwrap(),
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-map",
            "1:a",
            "-map",
            "2:s",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-c:a",
            "aac",
            "-c:s",
            "srt",
            "-metadata:s:a:0",
            "language=eng",
            "-metadata:s:a:1",
            "language=fra",
            "-metadata:s:a:1",
            "title=Commentaire",
            "-metadata:s:s:0",
            "language=ger",
            "-disposition:a:0",
            "0",
            "-disposition:a:1",
            "default",
            "-disposition:s:0",
            "forced",
        ]);
    let out = dir.join("tagged.mkv");
    clip.make_at(&out);
    let p = probe_blocking(&out).expect("probe");
    assert_eq!(p.streams.len(), 4);
    let a = p.audio(None).unwrap();
    assert_eq!(a.index, 2, "the default audio track is picked");
    assert_eq!(a.language.as_deref(), Some("fra"));
    assert_eq!(a.title.as_deref(), Some("Commentaire"));
    assert_eq!(p.audio(Some(1)).unwrap().language.as_deref(), Some("eng"));
    assert!(p.audio(Some(0)).is_none(), "stream 0 is video");
    let s = p.subtitle(3).unwrap();
    assert_eq!((s.kind, s.codec.as_str()), (StreamKind::Subtitle, "subrip"));
    assert_eq!(s.language.as_deref(), Some("ger"));
    assert!(s.is_forced);
    assert!(s.subtitle.as_ref().unwrap().is_text);
}

#[test]
fn serialises_to_json_and_back() {
    let p = probe_blocking(Clip::hevc10_hdr10().make()).expect("probe");
    let json = serde_json::to_string(&p).unwrap();
    assert!(json.contains("\"HDR10\""), "{json}");
    let back: MediaProbe = serde_json::from_str(&json).unwrap();
    assert_eq!(back, p);
    // Older or partial JSON still loads.
    let partial: MediaProbe = serde_json::from_str(r#"{"container":"mkv"}"#).unwrap();
    assert_eq!(partial.container, "mkv");
}

#[tokio::test]
async fn async_probe_runs_on_the_blocking_pool() {
    let path = Clip::h264_no_audio().make();
    let p = probe(path).await.expect("probe");
    assert_eq!(p.video().unwrap().codec, "h264");
}

fn expect_err(path: &Path) -> Error {
    match probe_blocking(path) {
        Ok(p) => panic!("{} probed as media: {p:?}", path.display()),
        Err(e) => e,
    }
}

#[test]
fn corrupt_file_is_not_media() {
    let dir = scratch_dir("corrupt");
    let path = dir.join("random.mkv");
    // Deterministic pseudo-random bytes (xorshift), 256 KiB.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let bytes: Vec<u8> = (0..256 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(&path, bytes).unwrap();
    let err = expect_err(&path);
    assert!(matches!(err, Error::NotMedia { .. }), "{err:?}");
    assert!(err.is_bad_input());
    assert!(
        std::error::Error::source(&err).is_some(),
        "ffmpeg error kept"
    );
}

#[test]
fn truncated_mp4_is_not_media() {
    let dir = scratch_dir("truncated");
    let full = std::fs::read(Clip::h264_aac_1080p().make()).unwrap();
    let path = dir.join("half.mp4");
    std::fs::write(&path, &full[..full.len() / 2]).unwrap();
    let err = expect_err(&path);
    assert!(matches!(err, Error::NotMedia { .. }), "{err:?}");
}

#[test]
fn zero_byte_file_is_empty() {
    let dir = scratch_dir("empty");
    let path = dir.join("empty.mp4");
    std::fs::write(&path, b"").unwrap();
    assert!(matches!(expect_err(&path), Error::EmptyFile { .. }));
}

#[test]
fn text_file_named_mp4_is_not_media() {
    let dir = scratch_dir("text");
    let path = dir.join("readme.mp4");
    std::fs::write(&path, "This is not a video.\n".repeat(200)).unwrap();
    let err = expect_err(&path);
    assert!(matches!(err, Error::NotMedia { .. }), "{err:?}");
}

#[test]
fn directory_and_missing_path() {
    let dir = scratch_dir("dir");
    assert!(matches!(expect_err(&dir), Error::NotAFile { .. }));
    let missing = dir.join("nope.mkv");
    let err = expect_err(&missing);
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert!(matches!(
        ha_core::Error::from(err),
        ha_core::Error::NotFound(_)
    ));
}

#[test]
fn data_only_file_has_no_streams() {
    // An FFmetadata file is a valid "container" with no streams at all.
    let dir = scratch_dir("nostreams");
    let path = dir.join("meta.ffmeta");
    std::fs::write(&path, ";FFMETADATA1\ntitle=nothing\n").unwrap();
    let err = expect_err(&path);
    assert!(
        matches!(err, Error::NoStreams { .. } | Error::NotMedia { .. }),
        "{err:?}"
    );
}

#[cfg(unix)]
mod fifo {
    use super::*;
    use std::process::{Command, Stdio};
    use std::time::Instant;

    fn mkfifo(path: &Path) {
        let ok = Command::new("mkfifo").arg(path).status().unwrap().success();
        assert!(ok, "mkfifo");
    }

    #[test]
    fn fifo_is_refused_by_default() {
        let dir = scratch_dir("fifo-refused");
        let path = dir.join("stream.ts");
        mkfifo(&path);
        let started = Instant::now();
        assert!(matches!(expect_err(&path), Error::NotAFile { .. }));
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn endless_fifo_is_bounded_by_probesize() {
        let dir = scratch_dir("fifo-endless");
        let path = dir.join("endless.ts");
        mkfifo(&path);
        // An endless live MPEG-TS writer (no -t): the probe must return on its own.
        let mut writer = Command::new("ffmpeg")
            .args([
                "-nostdin",
                "-hide_banner",
                "-loglevel",
                "quiet",
                "-re",
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=320x240:rate=25",
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-f",
                "mpegts",
                "-y",
            ])
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn ffmpeg writer");
        let options = ProbeOptions {
            allow_special_files: true,
            probe_size: 200_000,
            analyze_duration: Duration::from_secs(1),
            deadline: Duration::from_secs(20),
        };
        let started = Instant::now();
        let result = probe_blocking_with(&path, &options);
        let took = started.elapsed();
        let _ = writer.kill();
        let _ = writer.wait();
        let p = result.expect("live stream probes");
        assert_eq!(p.container, "ts");
        assert_eq!(p.video().unwrap().codec, "h264");
        assert!(took < Duration::from_secs(15), "took {took:?}");
    }

    #[test]
    fn deadline_interrupts_a_slow_source() {
        let dir = scratch_dir("fifo-slow");
        let path = dir.join("slow.ts");
        mkfifo(&path);
        // A writer that trickles one byte every 100 ms for 4 s: never enough to identify a
        // format, so only the 500 ms deadline (checked by FFmpeg between reads) ends the probe.
        let mut writer = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "exec 3>'{}'; printf 'G' >&3; i=0; while [ $i -lt 40 ]; do sleep 0.1; printf '\\0' >&3; i=$((i+1)); done",
                path.display()
            ))
            .spawn()
            .expect("spawn writer");
        let options = ProbeOptions {
            allow_special_files: true,
            deadline: Duration::from_millis(500),
            ..ProbeOptions::default()
        };
        let started = Instant::now();
        let result = probe_blocking_with(&path, &options);
        let took = started.elapsed();
        let _ = writer.kill();
        let _ = writer.wait();
        let err = result.expect_err("a trickle of zeros is not media");
        assert!(matches!(err, Error::ProbeTimeout { .. }), "{err:?}");
        assert!(ha_core::Error::from(err).is_transient());
        assert!(took < Duration::from_secs(3), "took {took:?}");
    }
}

/// `mdcv` (ISO/IEC 23001-8: G, B, R, white point in 0.00002, max then min luminance in
/// 0.0001 cd/m², big-endian) and `clli` (MaxCLL, MaxFALL) for a BT.2020 4000-nit master.
fn mdcv_clli_bt2020_4000() -> (Vec<u8>, Vec<u8>) {
    let mut mdcv = Vec::new();
    for v in [8500u16, 39850, 6550, 2300, 35400, 14600, 15635, 16450] {
        mdcv.extend_from_slice(&v.to_be_bytes());
    }
    mdcv.extend_from_slice(&40_000_000u32.to_be_bytes());
    mdcv.extend_from_slice(&50u32.to_be_bytes());
    let mut clli = Vec::new();
    clli.extend_from_slice(&2000u16.to_be_bytes());
    clli.extend_from_slice(&600u16.to_be_bytes());
    (mdcv, clli)
}

#[test]
fn hdr10_static_metadata_from_the_container() {
    let base = std::fs::read(Clip::hevc10_hdr10_mp4().make()).unwrap();
    let plain = probe_blocking(Clip::hevc10_hdr10_mp4().make()).expect("probe base");
    let vi = plain.video().unwrap().video.clone().unwrap();
    assert_eq!(
        (vi.mastering_display, vi.content_light, vi.hdr10_plus),
        (None, None, false),
        "the base clip carries no static metadata anywhere"
    );

    let (mdcv, clli) = mdcv_clli_bt2020_4000();
    let with_mdcv = support::mp4_box::add_to_hevc_sample_entry(&base, b"mdcv", &mdcv)
        .expect("ffmpeg's mp4 layout");
    let with_both = support::mp4_box::add_to_hevc_sample_entry(&with_mdcv, b"clli", &clli)
        .expect("ffmpeg's mp4 layout");
    let path = scratch_dir("hdr10-boxes").join("hdr10_mdcv_clli.mp4");
    std::fs::write(&path, with_both).unwrap();

    let p = probe_blocking(&path).expect("probe");
    let vi = p.video().unwrap().video.clone().unwrap();
    let md = vi.mastering_display.expect("mastering display from mdcv");
    assert_eq!(
        md.primaries,
        Some(DisplayPrimaries {
            red: [0.708, 0.292],
            green: [0.17, 0.797],
            blue: [0.131, 0.046],
            white_point: [0.3127, 0.329],
        })
    );
    assert_eq!(
        (md.min_luminance, md.max_luminance),
        (Some(0.005), Some(4000.0))
    );
    assert_eq!(
        vi.content_light,
        Some(ContentLightLevel {
            max_cll: 2000,
            max_fall: 600
        })
    );
    assert_eq!(
        (vi.hdr, vi.range_type),
        (HdrFormat::Hdr10, VideoRangeType::Hdr10)
    );
}

#[test]
fn hdr10_plus_sei_makes_the_range_hdr10_plus() {
    let base = Clip::new("hdr10plus_base.hevc")
        .video(320, 240, "25")
        .args([
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p10le",
            "-x265-params",
            "log-level=error:colorprim=bt2020:transfer=smpte2084:colormatrix=bt2020nc",
        ])
        .make();
    let raw = std::fs::read(&base).unwrap();
    let with_sei = support::hdr10plus::add_hdr10_plus_sei(&raw).expect("a coded slice");
    let dir = scratch_dir("hdr10plus");
    let hevc = dir.join("hdr10plus.hevc");
    std::fs::write(&hevc, with_sei).unwrap();
    let plain = probe_blocking(&base).expect("probe base");
    let vi = plain.video().unwrap().video.clone().unwrap();
    assert_eq!(
        (vi.hdr10_plus, vi.range_type),
        (false, VideoRangeType::Hdr10)
    );

    let p = probe_blocking(&hevc).expect("probe");
    let vi = p.video().unwrap().video.clone().unwrap();
    assert_eq!(vi.color_transfer.as_deref(), Some("smpte2084"));
    assert!(vi.hdr10_plus, "ST 2094-40 SEI on the first frame");
    assert_eq!(
        (vi.hdr, vi.range_type),
        (HdrFormat::Hdr10, VideoRangeType::Hdr10Plus)
    );
}

#[test]
fn sdr_and_hlg_have_no_hdr10_metadata() {
    for clip in [Clip::h264_aac_1080p(), Clip::hevc10_hlg()] {
        let p = probe_blocking(clip.make()).expect("probe");
        let vi = p.video().unwrap().video.clone().unwrap();
        assert_eq!(
            (vi.mastering_display, vi.content_light, vi.hdr10_plus),
            (None, None, false)
        );
    }
}

#[test]
fn dolby_vision_record_is_detected() {
    let base = std::fs::read(Clip::hevc10_hdr10_mp4().make()).unwrap();
    let with_dv = support::dovi::add_dovi_config(&base, &support::dovi::dvcc_profile_8_1())
        .expect("ffmpeg's mp4 layout");
    let dir = scratch_dir("dovi");
    let path = dir.join("dv81.mp4");
    std::fs::write(&path, with_dv).unwrap();

    let plain = probe_blocking(Clip::hevc10_hdr10_mp4().make()).expect("probe base");
    assert_eq!(
        plain.video().unwrap().video.as_ref().unwrap().hdr,
        HdrFormat::Hdr10
    );

    let p = probe_blocking(&path).expect("probe dv");
    let vi = p.video().unwrap().video.clone().unwrap();
    let dv = vi.dovi.expect("dovi record");
    assert_eq!((dv.profile, dv.level), (8, 6));
    assert!(dv.rpu_present && dv.bl_present && !dv.el_present);
    assert_eq!(dv.bl_signal_compatibility_id, 1);
    assert_eq!(vi.hdr, HdrFormat::DolbyVision);
    assert_eq!(vi.range_type, VideoRangeType::DoviWithHdr10);
    assert_eq!(vi.color_transfer.as_deref(), Some("smpte2084"));
}

#[test]
fn cover_art_is_not_a_video_track() {
    let clip = Clip::new("mp3_with_cover.mp3")
        .audio(44_100)
        .video(64, 64, "1")
        .args([
            "-map",
            "1:a",
            "-map",
            "0:v",
            "-frames:v",
            "1",
            "-c:a",
            "libmp3lame",
            "-c:v",
            "mjpeg",
            "-disposition:v",
            "attached_pic",
            "-id3v2_version",
            "3",
        ]);
    let p = probe_blocking(clip.make()).expect("probe");
    assert_eq!(p.streams.len(), 2);
    let art = p
        .streams
        .iter()
        .find(|s| s.kind == StreamKind::Video)
        .unwrap();
    assert!(art.is_attached_picture);
    assert!(p.video().is_none(), "cover art is not the video");
    let d = ha_transcode::decision::decide(
        &ha_transcode::decision::DeviceProfile::web_browser(),
        &p,
        &Default::default(),
    )
    .unwrap();
    assert_eq!(d.method, ha_transcode::decision::PlayMethod::DirectPlay);
    assert_eq!(d.video_stream_index, None);
}
