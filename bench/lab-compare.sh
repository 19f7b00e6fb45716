#!/usr/bin/env bash
# Compares what two lab runs printed, kept with LAB_KEEP_REPORTS=DIR (one run per build):
#   bash bench/lab-compare.sh BEFORE_DIR AFTER_DIR            # timing and lab-made values masked
#   NUMBERS=1 bash bench/lab-compare.sh BEFORE_DIR AFTER_DIR  # every number masked too
# Masked in JSON: started_at, duration_ms, sync_token (the lab writes a fresh ip-ranges.json);
# in all text: the lab's temporary folders and certificate fingerprints (a fresh PKI per run).
# With NUMBERS=1, every number (measured RTT, jitter, loss, ports) is masked as well, which
# leaves words, ids, statuses, reasons and the order of everything. Prints each file that
# differs, then the counts. Needs jq.
set -euo pipefail
before=${1:?BEFORE_DIR}
after=${2:?AFTER_DIR}
mask='walk(if type == "object" then with_entries(select(.key as $k | ["started_at","duration_ms","sync_token"] | index($k) | not)) else . end)'
norm() {
    if jq -e . "$1" >/dev/null 2>&1; then jq "$mask" "$1"; else cat "$1"; fi |
        sed -E 's#/tmp/[A-Za-z0-9._-]*[-.][A-Za-z0-9]{6}#/tmp/TMP#g; s/([0-9A-F]{2}:){31}[0-9A-F]{2}/FINGERPRINT/g' |
        if [ -n "${NUMBERS:-}" ]; then sed -E 's/[0-9]+(\.[0-9]+)?/N/g'; else cat; fi
}
same=0
differ=0
missing=0
for b in "$before"/*; do
    name=$(basename "$b")
    if [ ! -e "$after/$name" ]; then
        echo "missing after: $name"
        missing=$((missing + 1))
    elif cmp -s <(norm "$b") <(norm "$after/$name"); then
        same=$((same + 1))
    else
        echo "differs: $name"
        differ=$((differ + 1))
    fi
done
for a in "$after"/*; do
    [ -e "$before/$(basename "$a")" ] || {
        echo "missing before: $(basename "$a")"
        missing=$((missing + 1))
    }
done
echo "$same identical, $differ differ, $missing without a counterpart"
