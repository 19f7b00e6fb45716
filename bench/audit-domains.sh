#!/usr/bin/env bash
# Speed of `audit` on a large domain allow-list. Target, from the product's requirements:
#   a 100,000-line domain allow-list audits in under 3 x the time `grep -c .` takes to read it
#   (ratio = audit / grep < 3.0; reading, parsing and the JSON report included)
# The list is generated from a fixed seed the way proxies and web gateways keep them: host names,
# `*.suffix` and squid-style `.suffix` wildcards, URLs with paths, comments (whole-line and
# trailing) and blank lines, plus the entries of a Connect site. audit also matches every
# requirement, judges every entry (over-broad, retired, duplicate, shadowed) and writes a report.
# Times are hyperfine's medians (the means are printed too). Peak RSS is printed for information.
# The floor (examples/line_set.rs) is timed too: a program that only reads the list and puts each
# line in a hash set, the least any audit that finds duplicates must do; its ratio to grep shows
# how much of the target is reachable at all.
# Prints PASS or FAIL and exits 1 if the target is missed.
# Needs: hyperfine time (Debian packages); builds the release binary.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in hyperfine /usr/bin/time awk grep; do
  command -v "$tool" >/dev/null || { echo "bench/audit-domains.sh needs $tool (apt-get install hyperfine time)" >&2; exit 1; }
done

cargo build --release --quiet
cargo build --release --quiet --example line_set
floor=target/release/examples/line_set
export CONNECT_PREFLIGHT_CACHE_DIR="$(mktemp -d)"
bin=target/release/connect-preflight
work=$(mktemp -d)
trap 'rm -rf "$work" "$CONNECT_PREFLIGHT_CACHE_DIR"' EXIT
lines=${LINES_TOTAL:-100000}
runs=${RUNS:-30}

awk -v n="$lines" 'BEGIN {
  srand(20261125)
  split("com net org io co.uk de fr cloud app dev aws", tld, " ")
  split("www api cdn static login portal mail app auth assets img files docs", host, " ")
  split("alpha beta corp shop media cloud data secure connect global", word, " ")
  print "# Amazon Connect"
  print "acme.my.connect.aws"
  print "*.static.connect.aws"
  print ".cloudfront.net"
  print "https://participant.connect.eu-central-1.amazonaws.com/*"
  for (count = 5; count < n; count++) {
    r = rand()
    d = word[int(rand()*10)+1] int(rand()*50000) "." tld[int(rand()*11)+1]
    if (r < 0.04) printf "# %s: requested in ticket %d\n", d, int(rand()*100000)
    else if (r < 0.05) print ""
    else if (r < 0.55) printf "%s.%s\n", host[int(rand()*13)+1], d
    else if (r < 0.75) printf "*.%s\n", d
    else if (r < 0.85) printf ".%s\n", d
    else if (r < 0.95) printf "https://%s.%s/%s/*\n", host[int(rand()*13)+1], d, word[int(rand()*10)+1]
    else printf "%s.%s  # %s\n", host[int(rand()*13)+1], d, word[int(rand()*10)+1]
  }
}' > "$work/domains.txt"
echo "domain list: $(wc -l < "$work/domains.txt") lines, $(wc -c < "$work/domains.txt") bytes"
"$bin" -q audit --region eu-central-1 --instance acme --domains "$work/domains.txt" --format json > "$work/report.json" || true
echo "checks in the report: $(grep -o '"reason":' "$work/report.json" | wc -l)"

hyperfine --style basic -N -i --warmup 3 --runs "$runs" --export-csv "$work/times.csv" \
  "grep -c . $work/domains.txt" \
  "$floor $work/domains.txt" \
  "$bin -q audit --region eu-central-1 --instance acme --domains $work/domains.txt --format json"

rss=$(for _ in 1 2 3; do { /usr/bin/time -f %M "$bin" -q audit --region eu-central-1 --instance acme --domains "$work/domains.txt" --format json 2>&1 >/dev/null || true; } | tail -1; done | sort -n | head -1)
column() { awk -F, -v row="$2" -v col="$3" 'NR == row + 1 { print $col }' "$1"; }
g=$(column "$work/times.csv" 1 4); f=$(column "$work/times.csv" 2 4); a=$(column "$work/times.csv" 3 4)
gm=$(column "$work/times.csv" 1 2); fm=$(column "$work/times.csv" 2 2); am=$(column "$work/times.csv" 3 2)
echo
echo "Results ($runs runs each; seconds, median (mean)):"
awk -v g="$g" -v a="$a" -v gm="$gm" -v am="$am" -v f="$f" -v fm="$fm" 'BEGIN {
  printf "  grep -c . %.4f (%.4f)  audit %.4f (%.4f)  ratio %.1f (%.1f)\n", g, gm, a, am, a / g, am / gm
  printf "  floor (read + hash set of the lines) %.4f (%.4f)  ratio to grep %.1f (%.1f)\n", f, fm, f / g, fm / gm
}'
echo "  peak RSS of audit: $rss KiB"
if awk -v g="$g" -v a="$a" 'BEGIN { exit !(a < 3 * g) }'; then
  echo "  time target (ratio < 3.0): PASS"
else
  echo "  time target (ratio < 3.0): FAIL"
  exit 1
fi
