#!/usr/bin/env bash
# Byte-for-byte comparison of `audit` between two builds, for a change that must not alter its
# output: every file under tests/data/allowlists and tests/data/real is audited by both binaries as
# a domain list and as a CIDR whitelist, strict and --lenient, in JSON and text (and with
# --fix-output), and the outputs, standard error and exit codes are compared. The run's own
# timestamp and duration are blanked first, nothing else.
# Usage: bench/audit-compare.sh OLD_BINARY NEW_BINARY
# Prints the number of files and runs compared and every difference; exits 1 if there is one.
set -uo pipefail
cd "$(dirname "$0")/.."
old=${1:?usage: bench/audit-compare.sh OLD_BINARY NEW_BINARY}
new=${2:?usage: bench/audit-compare.sh OLD_BINARY NEW_BINARY}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export CONNECT_PREFLIGHT_CACHE_DIR="$work/cache" NO_COLOR=1
mkdir -p "$work/cache"

normalise() {
  sed -E -e 's/"(started_at|finished_at)": *"[^"]*"/"\1":"-"/g' \
    -e 's/"duration_ms": *[0-9]+/"duration_ms":0/g' \
    -e 's/ in [0-9]+ ms/ in - ms/g' -e 's/[0-9]+ days ago/- days ago/g' "$1"
}

run() { # bin tag args...
  local bin=$1 tag=$2
  shift 2
  "$bin" -q audit -r eu-central-1 -i acme "$@" --fix-output "$work/$tag.fix" >"$work/$tag.out" 2>"$work/$tag.err"
  echo "exit $?" >>"$work/$tag.err"
}

files=0 runs=0 diffs=0
while IFS= read -r -d '' file; do
  files=$((files + 1))
  for kind in --domains --cidrs; do
    for strict in "" --lenient; do
      for format in json text csv; do
        rm -f "$work"/old.* "$work"/new.*
        args=("$kind" "$file" -f "$format" ${strict:+"$strict"})
        run "$old" old "${args[@]}"
        run "$new" new "${args[@]}"
        runs=$((runs + 1))
        for part in out err fix; do
          a="$work/old.$part" b="$work/new.$part"
          [ -e "$a" ] || [ -e "$b" ] || continue
          if ! cmp -s <(normalise "$a" 2>/dev/null) <(normalise "$b" 2>/dev/null); then
            diffs=$((diffs + 1))
            echo "DIFF ($part): audit ${args[*]}"
            diff <(normalise "$a" 2>/dev/null) <(normalise "$b" 2>/dev/null) | head -20
          fi
        done
      done
    done
  done
done < <(find tests/data/allowlists tests/data/real -type f -print0 | sort -z)
echo "compared $files files, $runs runs: $diffs differences"
[ "$diffs" -eq 0 ]
