//! Parameter sets from an Annex B packet, for the fMP4 init segment.
//!
//! libx264 without a global header repeats SPS/PPS in-band at every IDR and leaves the
//! encoder's extradata empty; the mp4 muxer needs them in `avcC`/`hvcC` before the first
//! packet (see [`crate::hls::fmp4`]). Pure: bytes in, bytes out.

/// The SPS/PPS (and HEVC VPS) NAL units of `packet` (Annex B), each with a 4-byte start code,
/// in packet order. Empty when there are none. `hevc` selects HEVC NAL unit types.
pub(crate) fn parameter_sets(packet: &[u8], hevc: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for nal in nal_units(packet) {
        let Some(&header) = nal.first() else { continue };
        let wanted = if hevc {
            matches!((header >> 1) & 0x3f, 32..=34) // VPS, SPS, PPS
        } else {
            matches!(header & 0x1f, 7 | 8 | 13) // SPS, PPS, SPS extension
        };
        if wanted {
            out.extend_from_slice(&[0, 0, 0, 1]);
            out.extend_from_slice(nal);
        }
    }
    out
}

/// The NAL units of an Annex B byte stream, without start codes.
fn nal_units(data: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new(); // (payload start, start-code start)
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            let code_start = if i > 0 && data[i - 1] == 0 { i - 1 } else { i };
            starts.push((i + 3, code_start));
            i += 3;
        } else {
            i += 1;
        }
    }
    starts
        .iter()
        .enumerate()
        .map(|(n, &(begin, _))| {
            let end = starts.get(n + 1).map_or(data.len(), |&(_, code)| code);
            &data[begin..end.max(begin)]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_h264_parameter_sets_only() {
        let pkt = [
            0, 0, 0, 1, 0x67, 1, 2, // SPS
            0, 0, 1, 0x68, 3, // PPS (3-byte start code)
            0, 0, 0, 1, 0x06, 9, 9, // SEI
            0, 0, 0, 1, 0x65, 7, 7, 7, // IDR slice
        ];
        assert_eq!(
            parameter_sets(&pkt, false),
            vec![0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 1, 0x68, 3]
        );
    }

    #[test]
    fn hevc_types_and_empty_input() {
        let pkt = [
            0, 0, 1, 0x40, 1, 0, 0, 1, 0x42, 1, 0, 0, 1, 0x44, 1, 0, 0, 1, 0x26, 1,
        ];
        assert_eq!(
            parameter_sets(&pkt, true),
            vec![0, 0, 0, 1, 0x40, 1, 0, 0, 0, 1, 0x42, 1, 0, 0, 0, 1, 0x44, 1]
        );
        assert!(parameter_sets(&[], false).is_empty());
        assert!(parameter_sets(&[1, 2, 3], false).is_empty());
    }
}
