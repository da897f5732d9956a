#!/usr/bin/env bash
# Issue 16.3: how long a transcode worker resumed at segment k takes to report its first
# segment, by the source's keyframe interval (2 s, 4 s, 10 s) and where k lies after the
# keyframe. Runs the worker binary on generated 30 s / 21 s sources, 3 s segments (the
# reference server's), 720p x264 veryfast (its rendition), video only, `passes` times each.
#
#   cargo build -p ha-transcode --bin ha-transcode-worker     # or --release, then WORKER=...
#   benches/resume_first_segment.sh [passes]                   # prints one line per run
#
# Sources (generated once under target/tmp/resume-sources): MPEG-2 720p (g*) and H.264 1080p
# (h*), keyframes every 50, 100, 250 frames at 25 fps, no scene-cut keyframes.
set -euo pipefail
cd "$(dirname "$0")/.."
passes=${1:-3}
target=${CARGO_TARGET_DIR:-target}
worker=${WORKER:-$target/debug/ha-transcode-worker}
src=$target/tmp/resume-sources
mkdir -p "$src"
src=$(realpath "$src")
for g in 50 100 250; do
    [[ -f $src/g$g.mkv ]] || ffmpeg -v error -y -f lavfi -i testsrc2=size=1280x720:rate=25 -t 30 \
        -c:v mpeg2video -q:v 4 -g "$g" -bf 0 -sc_threshold 1000000000 "$src/g$g.mkv"
    [[ -f $src/h$g.mkv ]] || ffmpeg -v error -y -f lavfi -i testsrc2=size=1920x1080:rate=25 -t 21 \
        -c:v libx264 -preset ultrafast -g "$g" -keyint_min "$g" -sc_threshold 0 "$src/h$g.mkv"
done
for pass in $(seq "$passes"); do
    for g in 50 100 250; do
        for kind in g h; do
            for start in 0 3 5; do
                out=$(mktemp -d)
                spec=$(printf '{"input":"%s","output_dir":"%s","start_segment":%d,"end_segment":%d,"segment_ms":3000,"video":{"target_height":720,"rate":{"mode":"crf","crf":23},"preset":"veryfast"}}' \
                    "$src/$kind$g.mkv" "$out" "$start" "$start")
                t0=$(date +%s.%N)
                first=""
                while IFS= read -r line; do
                    if [[ -z $first && $line == *'"event":"segment"'* ]]; then
                        first=$(date +%s.%N)
                    fi
                done < <(echo "$spec" | "$worker")
                [[ -n $first ]] || { echo "the worker reported no segment for $spec" >&2; exit 1; }
                rm -rf "$out"
                printf '%s keyframes every %ss, resume at segment %d (t=%ds): first segment %.2f s (pass %d)\n' \
                    "$([[ $kind == g ]] && echo 'MPEG-2 720p' || echo 'H.264 1080p')" "$((g / 25))" \
                    "$start" "$((start * 3))" "$(echo "$first - $t0" | bc)" "$pass"
            done
        done
    done
done
