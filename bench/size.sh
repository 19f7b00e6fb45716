#!/usr/bin/env bash
# The release binary's size against its budget: the size measured with the PAC engine, the media
# check, agent mode and the relay-only WebRTC call (the default `webrtc-call` feature) linked in,
# 13,772,864 bytes on x86_64 Linux (LTO, one codegen unit, stripped), plus 15 %. Until `check` runs
# the call, LTO drops it and the default build measures 8,971,104 bytes; without the feature,
# 8,974,272. Builds the release binary; fails when it is over budget, so growth is a decision, not
# an accident.
#
# Measured since: the audit's engines (netfilter, nft, squid, PAC), `ccp-log`, the WebSocket
# transport, the sourced catalog and the split into rooms bring it to 15,472,000 bytes (+12 %).
# The budget caught one accident on the way: squid's `dstdom_regex` pulled in the `regex` crate
# (1.33 MB of Unicode tables and engines; `webrtc`'s own use of it is dropped by LTO). squid's
# POSIX expressions have no Unicode classes, so `regex-lite` reads them; the lab's squid
# differential (random dstdom_regex ACLs against real squid) agrees on every probe with it.
set -euo pipefail
cd "$(dirname "$0")/.."

budget=15838794
cargo build --release --locked --quiet
size=$(stat -c %s "${CARGO_TARGET_DIR:-target}/release/connect-preflight")
printf 'release binary: %s bytes (%s KiB); budget %s bytes (%s KiB)\n' \
  "$size" "$((size / 1024))" "$budget" "$((budget / 1024))"
if [ "$size" -gt "$budget" ]; then
  echo "bench/size.sh: the release binary is over budget by $((size - budget)) bytes" >&2
  exit 1
fi
