#!/usr/bin/env bash
# Speed and memory of `ranges lookup`, side by side with Debian's grepcidr given every prefix of
# the same snapshot as its pattern file. Targets (ratio = ours / grepcidr's time):
#   one address:              ratio <= 1.0
#   1,000,000 addresses:      ratio <= 1.0, while also naming service and Region for each
#   1,000,000 addresses, half of them AWS's (a firewall log), `--format line` (one line per
#   address: most specific prefix, service, Region): ratio <= 1.0
# and the peak RSS of both. Needs: hyperfine grepcidr time (Debian packages); builds the release binary.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in hyperfine grepcidr /usr/bin/time awk; do
  command -v "$tool" >/dev/null || { echo "bench/ranges.sh needs $tool (apt-get install hyperfine grepcidr time)" >&2; exit 1; }
done

cargo build --release --quiet
# The embedded snapshot, as users run it: no cached copy from this machine.
export CONNECT_PREFLIGHT_CACHE_DIR="$(mktemp -d)"
bin=${CARGO_TARGET_DIR:-target}/release/connect-preflight
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Every IPv4 and IPv6 prefix of the embedded snapshot: grepcidr's pattern file.
grep -oE '"ipv?6?_prefix": "[^"]+"' ranges/ip-ranges.json | cut -d'"' -f4 > "$work/patterns"
# One million IPv4 addresses from a fixed seed, and one address known to be AWS's.
awk 'BEGIN { srand(20260822); for (i = 0; i < 1000000; i++) printf "%d.%d.%d.%d\n", int(rand()*224)+1, int(rand()*256), int(rand()*256), int(rand()*256) }' > "$work/addrs"
echo 15.193.4.10 > "$work/one"
# The hit-heavy case: every other address drawn from inside a random IPv4 prefix of the snapshot.
awk -v seed=20261204 'BEGIN { srand(seed) }
  FNR == NR { if ($0 ~ /^[0-9.]+\/[0-9]+$/) { split($0, p, "/"); split(p[1], o, ".");
      base[n] = ((o[1] * 256 + o[2]) * 256 + o[3]) * 256 + o[4]; size[n] = 2 ^ (32 - p[2]); n++ }
    next }
  END { for (i = 0; i < 1000000; i++) {
      if (i % 2) { a = int(rand() * 223 + 1) * 16777216 + int(rand() * 16777216) }
      else { k = int(rand() * n); a = base[k] + int(rand() * size[k]) }
      printf "%d.%d.%d.%d\n", int(a / 16777216), int(a / 65536) % 256, int(a / 256) % 256, a % 256 } }' \
  "$work/patterns" /dev/null > "$work/hits"
echo "patterns: $(wc -l < "$work/patterns") prefixes; addresses: $(wc -l < "$work/addrs") random, $(wc -l < "$work/hits") half AWS's"
echo "hit-heavy input: grepcidr prints $(grepcidr -f "$work/patterns" "$work/hits" | wc -l) lines, every-prefix text $("$bin" ranges lookup --file "$work/hits" | wc -l), line form $("$bin" ranges lookup --file "$work/hits" --format line | wc -l)"

mean() { awk -F, -v row="$2" 'NR == row + 1 { print $2 }' "$1"; }

hyperfine --style basic --warmup 3 --runs 30 -N --export-csv "$work/one.csv" \
  "grepcidr -f $work/patterns $work/one" \
  "$bin ranges lookup 15.193.4.10"
hyperfine --style basic --warmup 1 --runs 5 --export-csv "$work/bulk.csv" \
  "grepcidr -f $work/patterns $work/addrs > /dev/null" \
  "$bin ranges lookup --file $work/addrs > /dev/null" \
  "$bin ranges lookup --file $work/addrs --format csv > /dev/null"

hyperfine --style basic --warmup 1 --runs 5 --export-csv "$work/hits.csv" \
  "grepcidr -f $work/patterns $work/hits > /dev/null" \
  "$bin ranges lookup --file $work/hits --format line > /dev/null" \
  "$bin ranges lookup --file $work/hits > /dev/null"

rss() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }
g_rss=$(rss grepcidr -f "$work/patterns" "$work/addrs")
c_rss=$(rss "$bin" ranges lookup --file "$work/addrs")
g1=$(mean "$work/one.csv" 1); c1=$(mean "$work/one.csv" 2)
gb=$(mean "$work/bulk.csv" 1); cb=$(mean "$work/bulk.csv" 2); cc=$(mean "$work/bulk.csv" 3)
gh=$(mean "$work/hits.csv" 1); ch=$(mean "$work/hits.csv" 2); ct=$(mean "$work/hits.csv" 3)

echo
echo "Results (mean seconds; ratio = connect-preflight / grepcidr, target <= 1.0):"
awk -v g1="$g1" -v c1="$c1" -v gb="$gb" -v cb="$cb" -v cc="$cc" -v gh="$gh" -v ch="$ch" -v ct="$ct" 'BEGIN {
  printf "  one address:       grepcidr %.4f  ours %.4f  ratio %.2f\n", g1, c1, c1 / g1
  printf "  1M addresses text: grepcidr %.3f  ours %.3f  ratio %.2f\n", gb, cb, cb / gb
  printf "  1M addresses csv:  grepcidr %.3f  ours %.3f  ratio %.2f\n", gb, cc, cc / gb
  printf "  1M half AWS, line: grepcidr %.3f  ours %.3f  ratio %.2f\n", gh, ch, ch / gh
  printf "  1M half AWS, text: grepcidr %.3f  ours %.3f  ratio %.2f (every containing prefix)\n", gh, ct, ct / gh
}'
echo "  peak RSS, 1M addresses: grepcidr ${g_rss} KiB, ours ${c_rss} KiB"
