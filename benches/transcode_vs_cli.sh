#!/usr/bin/env bash
# The ha-transcode worker vs the ffmpeg CLI with identical settings on the same clip:
# throughput (wall time for the whole clip) and time to first segment.
#
# Same settings on both sides: libx264 veryfast CRF 23, GOP = one segment (keyint_min equal,
# no scene cuts, forced IDR at every boundary), AAC 128k 48 kHz stereo, 4 s MPEG-TS segments.
# The worker writes one MPEG-TS context per segment (ha_transcode::hls docs say why); the CLI
# uses its hls muxer.
#
# Usage: benches/transcode_vs_cli.sh [seconds] [WxH] [runs]
# Needs: ffmpeg, a release build of the worker (built here into $CARGO_TARGET_DIR or target/).
set -euo pipefail

SECONDS_LEN=${1:-30}
SIZE=${2:-1280x720}
RUNS=${3:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

cargo build --release -q -p ha-transcode --bin ha-transcode-worker --manifest-path "$ROOT/Cargo.toml"
WORKER=$TARGET/release/ha-transcode-worker

CLIP=$WORK/clip.mp4
ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=size=$SIZE:rate=25:duration=$SECONDS_LEN" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=$SECONDS_LEN" \
  -c:v libx264 -preset superfast -pix_fmt yuv420p -c:a aac -b:a 128k -ac 2 -shortest "$CLIP"

now() { date +%s.%N; }

worker_run() {
  local out=$WORK/worker; rm -rf "$out"; mkdir -p "$out"
  local spec
  spec=$(printf '{"input":"%s","output_dir":"%s","segment_ms":4000,"video":{"rate":{"mode":"crf","crf":23},"preset":"veryfast"},"audio":{"bitrate":128000,"channels":2,"sample_rate":48000}}' "$CLIP" "$out")
  local t0 first="" line
  t0=$(now)
  while IFS= read -r line; do
    if [[ -z $first && $line == *'"event":"segment"'* ]]; then first=$(now); fi
  done < <(echo "$spec" | "$WORKER")
  local t1; t1=$(now)
  echo "worker total=$(echo "$t1 - $t0" | bc) first_segment=$(echo "$first - $t0" | bc)"
}

cli_run() {
  local out=$WORK/cli; rm -rf "$out"; mkdir -p "$out"
  local t0 first=""
  t0=$(now)
  ffmpeg -nostdin -v error -y -i "$CLIP" \
    -c:v libx264 -preset veryfast -crf 23 -g 100 -keyint_min 100 -sc_threshold 0 \
    -force_key_frames 'expr:gte(t,n_forced*4)' -x264-params forced-idr=1 \
    -c:a aac -b:a 128k -ar 48000 -ac 2 \
    -f hls -hls_time 4 -hls_playlist_type vod -hls_segment_filename "$out/seg-%06d.ts" "$out/index.m3u8" &
  local pid=$!
  # segment 0 is complete once the muxer opens segment 1 (or ffmpeg exits)
  while kill -0 "$pid" 2>/dev/null; do
    if [[ -z $first && -e $out/seg-000001.ts ]]; then first=$(now); fi
    sleep 0.01
  done
  wait "$pid"
  local t1; t1=$(now)
  [[ -z $first ]] && first=$t1
  echo "cli    total=$(echo "$t1 - $t0" | bc) first_segment=$(echo "$first - $t0" | bc)"
}

echo "clip: ${SECONDS_LEN}s ${SIZE}@25 + AAC; $RUNS runs each, interleaved (2-core machine: compare ratios within one run)"
for _ in $(seq "$RUNS"); do
  worker_run
  cli_run
done
