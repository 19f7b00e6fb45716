#!/usr/bin/env bash
# Speed of `audit` on a large firewall whitelist, side by side with Debian's iprange computing the
# same set difference (the IPv4 space Connect needs on TCP 443 that the whitelist leaves out), and
# a cross-check that both find the same CIDRs. iprange does only that one difference; audit also
# checks every rule and port, names the covering lines and judges every entry, so the ratio
# (ours / iprange) shows the price of that, not a like-for-like race.
# Needs: hyperfine iprange (Debian packages); builds the release binary.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in hyperfine iprange awk python3; do
  command -v "$tool" >/dev/null || { echo "bench/audit.sh needs $tool (apt-get install hyperfine iprange python3)" >&2; exit 1; }
done

cargo build --release --quiet
export CONNECT_PREFLIGHT_CACHE_DIR="$(mktemp -d)"
bin=target/release/connect-preflight
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
entries=${ENTRIES:-200000}

# What Connect needs in eu-central-1 on tcp/443 (IPv4), as iprange input.
"$bin" -q endpoints --region eu-central-1 --format cidrs > "$work/endpoints.txt"
awk '$2 == "tcp/443" && $1 !~ /:/ { print $1 }' "$work/endpoints.txt" > "$work/needed"
# A whitelist: every other needed CIDR, plus random /24s from a fixed seed.
awk -v n="$entries" 'BEGIN { srand(20261124) }
  NR % 2 == 0 { print $1 " tcp/443" }
  END { for (i = 0; i < n; i++) printf "%d.%d.%d.0/24 tcp/443\n", int(rand()*224)+1, int(rand()*256), int(rand()*256) }' \
  "$work/needed" > "$work/whitelist.txt"
cut -d' ' -f1 "$work/whitelist.txt" > "$work/allowed"
echo "needed: $(wc -l < "$work/needed") CIDRs; whitelist: $(wc -l < "$work/whitelist.txt") entries"

hyperfine --style basic --warmup 1 --runs 5 --export-csv "$work/times.csv" \
  "iprange $work/needed --except $work/allowed > /dev/null" \
  "$bin -q audit --region eu-central-1 --cidrs $work/whitelist.txt --format json > /dev/null || true"

# Cross-check: the IPv4 CIDRs to add on tcp/443 are the ones iprange finds.
# iprange writes a single address without /32.
iprange "$work/needed" --except "$work/allowed" | sed '/\//!s/$/\/32/' | sort > "$work/iprange.out"
"$bin" -q audit --region eu-central-1 --cidrs "$work/whitelist.txt" --format json > "$work/report.json" || true
python3 - "$work/report.json" > "$work/ours.out" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
for fix in report.get("fixes", {}).get("cidrs", []):
    if fix["proto"] == "tcp" and fix["port"] == "443" and ":" not in fix["cidr"]:
        print(fix["cidr"])
PY
sort -o "$work/ours.out" "$work/ours.out"
if diff -q "$work/iprange.out" "$work/ours.out" >/dev/null; then
  echo "cross-check: both find the same $(wc -l < "$work/ours.out") CIDRs to add"
else
  echo "cross-check FAILED: the CIDRs to add differ" >&2
  diff "$work/iprange.out" "$work/ours.out" | head -20 >&2
  exit 1
fi

mean() { awk -F, -v row="$2" 'NR == row + 1 { print $2 }' "$1"; }
i=$(mean "$work/times.csv" 1); c=$(mean "$work/times.csv" 2)
echo
awk -v i="$i" -v c="$c" -v n="$entries" 'BEGIN {
  printf "Results (mean seconds, %d extra entries): iprange %.3f  connect-preflight audit %.3f  ratio %.2f\n", n, i, c, c / i
}'
