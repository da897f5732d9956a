//! An HDR10+ sample without an HDR10+ encoder.
//!
//! Debian's libx265 is built without `ENABLE_HDR10_PLUS` (`dhdr10-info` is ignored with a
//! warning), so the ffmpeg CLI cannot write ST 2094-40 metadata. FFmpeg's HEVC decoder finds
//! it in one place: a prefix SEI `user_data_registered_itu_t_t35` message (country 0xB5,
//! provider 0x003C, oriented code 0x0001, application 4). [`add_hdr10_plus_sei`] inserts one
//! such SEI NAL before the first coded slice of a raw Annex B HEVC stream.

/// Big-endian bit writer.
struct Bits {
    out: Vec<u8>,
    used: u32,
}

impl Bits {
    fn put(&mut self, value: u32, n: u32) {
        for i in (0..n).rev() {
            if self.used.is_multiple_of(8) {
                self.out.push(0);
            }
            let bit = ((value >> i) & 1) as u8;
            if let Some(last) = self.out.last_mut() {
                *last |= bit << (7 - self.used % 8);
            }
            self.used += 1;
        }
    }
}

/// The ST 2094-40 payload FFmpeg 5.1 parses: one window, no optional parts.
fn st2094_40() -> Vec<u8> {
    let mut b = Bits {
        out: vec![0xB5, 0x00, 0x3C, 0x00, 0x01, 0x04],
        used: 48,
    };
    b.put(1, 8); // application_version
    b.put(1, 2); // num_windows
    b.put(400, 27); // targeted_system_display_maximum_luminance
    b.put(0, 1); // targeted_system_display_actual_peak_luminance_flag
    for maxscl in [90_000, 80_000, 70_000] {
        b.put(maxscl, 17);
    }
    b.put(50_000, 17); // average_maxrgb
    b.put(0, 4); // num_distribution_maxrgb_percentiles
    b.put(300, 10); // fraction_bright_pixels
    b.put(0, 1); // mastering_display_actual_peak_luminance_flag
    b.put(0, 1); // tone_mapping_flag
    b.put(0, 1); // color_saturation_mapping_flag
    b.out
}

/// Inserts emulation-prevention bytes (`00 00 0x` → `00 00 03 0x` for x ≤ 3).
fn escape(rbsp: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rbsp.len() + 4);
    let mut zeros = 0;
    for &byte in rbsp {
        if zeros >= 2 && byte <= 3 {
            out.push(3);
            zeros = 0;
        }
        out.push(byte);
        zeros = if byte == 0 { zeros + 1 } else { 0 };
    }
    out
}

/// The prefix SEI NAL unit (start code included) carrying the HDR10+ message.
fn sei_nal() -> Vec<u8> {
    let payload = st2094_40();
    let mut rbsp = vec![4u8, u8::try_from(payload.len()).expect("short payload")];
    rbsp.extend_from_slice(&payload);
    rbsp.push(0x80); // rbsp_trailing_bits
    let mut nal = vec![0, 0, 0, 1, 39 << 1, 1]; // PREFIX_SEI_NUT, layer 0, temporal id 0
    nal.extend(escape(&rbsp));
    nal
}

/// Returns `hevc` (raw Annex B) with an HDR10+ SEI before its first coded slice, or `None`
/// when no slice was found.
pub fn add_hdr10_plus_sei(hevc: &[u8]) -> Option<Vec<u8>> {
    let first_slice = (0..hevc.len().saturating_sub(4))
        .find(|&i| hevc[i..i + 3] == [0, 0, 1] && (hevc[i + 3] >> 1) & 0x3f < 32)?;
    // Keep a four-byte start code's leading zero with the slice it belongs to.
    let at = if first_slice > 0 && hevc[first_slice - 1] == 0 {
        first_slice - 1
    } else {
        first_slice
    };
    let mut out = Vec::with_capacity(hevc.len() + 64);
    out.extend_from_slice(&hevc[..at]);
    out.extend(sei_nal());
    out.extend_from_slice(&hevc[at..]);
    Some(out)
}
