#!/usr/bin/env bash
# The release binary's size against its budget: the size measured with the PAC engine, the media
# check, agent mode and the relay-only WebRTC call (the default `webrtc-call` feature) linked in,
# 13,772,864 bytes on x86_64 Linux (LTO, one codegen unit, stripped), plus 15 %. Until `check` runs
# the call, LTO drops it and the default build measures 8,971,104 bytes; without the feature,
# 8,974,272. Builds the release binary; fails when it is over budget, so growth is a decision, not
# an accident.
set -euo pipefail
cd "$(dirname "$0")/.."

budget=15838794
cargo build --release --locked --quiet
size=$(stat -c %s target/release/connect-preflight)
printf 'release binary: %s bytes (%s KiB); budget %s bytes (%s KiB)\n' \
  "$size" "$((size / 1024))" "$budget" "$((budget / 1024))"
if [ "$size" -gt "$budget" ]; then
  echo "bench/size.sh: the release binary is over budget by $((size - budget)) bytes" >&2
  exit 1
fi
