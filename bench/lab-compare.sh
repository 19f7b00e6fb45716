#!/usr/bin/env bash
# Compares what two lab runs printed, kept with LAB_KEEP_REPORTS=DIR (one run per build):
#   bash bench/lab-compare.sh BEFORE_DIR AFTER_DIR [KEY...]
# JSON reports are compared with the timing fields removed (started_at, duration_ms, and any
# KEY given, e.g. the measured rtt_ms), everything else byte for byte. Prints one line per file
# that differs, then the counts. Needs jq.
set -euo pipefail
before=${1:?BEFORE_DIR}
after=${2:?AFTER_DIR}
shift 2
keys='"started_at","duration_ms"'
for k in "$@"; do keys="$keys,\"$k\""; done
mask="walk(if type == \"object\" then with_entries(select(.key as \$k | [$keys] | index(\$k) | not)) else . end)"
same=0
differ=0
missing=0
for b in "$before"/*; do
    name=$(basename "$b")
    a="$after/$name"
    if [ ! -e "$a" ]; then
        echo "missing after: $name"
        missing=$((missing + 1))
        continue
    fi
    if jq -e . "$b" >/dev/null 2>&1; then
        if cmp -s <(jq "$mask" "$b") <(jq "$mask" "$a"); then
            same=$((same + 1))
        else
            echo "differs: $name"
            differ=$((differ + 1))
        fi
    elif cmp -s "$b" "$a"; then
        same=$((same + 1))
    else
        echo "differs: $name"
        differ=$((differ + 1))
    fi
done
for a in "$after"/*; do
    [ -e "$before/$(basename "$a")" ] || { echo "missing before: $(basename "$a")"; missing=$((missing + 1)); }
done
echo "$same identical, $differ differ, $missing without a counterpart"
