#!/usr/bin/env bash
# Speed and memory of `summarize`: 1,000 and 10,000 generated reports (20 sites, 8 checks each, a
# media check with 50 RTT samples, a failing TLS check and fixes on one machine in five), timed with
# hyperfine; peak RSS with /usr/bin/time. Target: throughput in reports/s, and a peak RSS that does
# not grow with the number of reports (reports are read one at a time).
# Needs: hyperfine time (Debian packages), awk; builds the release binary.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in hyperfine /usr/bin/time awk; do
  command -v "$tool" >/dev/null || { echo "bench/summarize.sh needs $tool (apt-get install hyperfine time)" >&2; exit 1; }
done

cargo build --release --quiet
bin=$PWD/target/release/connect-preflight
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Writes N reports under DIR/site-XX/, from a fixed seed.
generate() {
  awk -v n="$1" -v dir="$2" 'BEGIN {
    srand(20261124)
    for (s = 0; s < 20; s++) system("mkdir -p " dir "/site-" sprintf("%02d", s))
    for (i = 0; i < n; i++) {
      site = sprintf("site-%02d", i % 20)
      file = dir "/" site "/pc" i ".json"
      bad = (i % 5 == 0)
      rtt = 20 + (i % 20) * 5 + rand() * 30
      jitter = 1 + rand() * 8
      loss = (rand() < 0.9) ? 0 : rand() * 4
      samples = ""
      for (k = 0; k < 50; k++) samples = samples (k ? "," : "") ((rand() < 0.02) ? "null" : sprintf("%.1f", rtt + rand() * 20 - 10))
      printf "{\"schema\":\"connect-preflight/report/v1\",\"tool\":{\"name\":\"connect-preflight\",\"version\":\"0.1.0\"},\"command\":\"check\",\"target\":{\"instance\":\"acme\",\"region\":\"eu-central-1\"},\"started_at\":\"2026-11-24T09:00:00Z\",\"duration_ms\":8123,\"verdict\":\"%s\",\"counts\":{\"pass\":%d,\"warn\":0,\"fail\":%d,\"skip\":1,\"info\":0},\"checks\":[", (bad ? "not_ready" : "ready"), (bad ? 6 : 7), (bad ? 1 : 0) > file
      printf "{\"id\":\"dns/acme.my.connect.aws\",\"kind\":\"dns\",\"host\":\"acme.my.connect.aws\",\"status\":\"pass\",\"reason\":\"ok\",\"detail\":\"resolves to 3.120.9.14, inside EC2 eu-central-1\",\"duration_ms\":12,\"evidence\":{\"addresses\":[\"3.120.9.14\"]}}," > file
      printf "{\"id\":\"tcp/acme.my.connect.aws\",\"kind\":\"tcp\",\"host\":\"acme.my.connect.aws\",\"port\":443,\"proto\":\"tcp\",\"status\":\"pass\",\"reason\":\"ok\",\"detail\":\"connected\",\"duration_ms\":20}," > file
      if (bad) printf "{\"id\":\"tls/acme.my.connect.aws\",\"kind\":\"tls\",\"host\":\"acme.my.connect.aws\",\"port\":443,\"proto\":\"tcp\",\"status\":\"fail\",\"reason\":\"intercepted\",\"detail\":\"issued by Contoso Inspection CA\",\"remedy\":\"exempt *.my.connect.aws from TLS inspection\",\"duration_ms\":40,\"evidence\":{\"issuer\":\"CN=Contoso Inspection CA\"}}," > file
      else printf "{\"id\":\"tls/acme.my.connect.aws\",\"kind\":\"tls\",\"host\":\"acme.my.connect.aws\",\"port\":443,\"proto\":\"tcp\",\"status\":\"pass\",\"reason\":\"ok\",\"detail\":\"TLS 1.3, public chain\",\"duration_ms\":40}," > file
      printf "{\"id\":\"https/acme.my.connect.aws\",\"kind\":\"https\",\"host\":\"acme.my.connect.aws\",\"port\":443,\"proto\":\"tcp\",\"status\":\"pass\",\"reason\":\"ok\",\"detail\":\"HTTP 200\",\"duration_ms\":80}," > file
      printf "{\"id\":\"websocket/*.transport.connect.eu-central-1.amazonaws.com\",\"kind\":\"websocket\",\"status\":\"skip\",\"reason\":\"not_tested\",\"detail\":\"a wildcard has no concrete host\",\"duration_ms\":0}," > file
      printf "{\"id\":\"stun/turnnlb\",\"kind\":\"stun\",\"host\":\"turnnlb-ea5316ebe2759cbc.elb.eu-central-1.amazonaws.com\",\"port\":3478,\"proto\":\"udp\",\"status\":\"pass\",\"reason\":\"ok\",\"detail\":\"binding answered\",\"duration_ms\":30}," > file
      printf "{\"id\":\"turn/turnnlb\",\"kind\":\"turn\",\"host\":\"turnnlb-ea5316ebe2759cbc.elb.eu-central-1.amazonaws.com\",\"port\":3478,\"proto\":\"udp\",\"status\":\"pass\",\"reason\":\"auth_challenge\",\"detail\":\"401 with realm\",\"duration_ms\":30}," > file
      printf "{\"id\":\"media/turnnlb\",\"kind\":\"media\",\"host\":\"turnnlb-ea5316ebe2759cbc.elb.eu-central-1.amazonaws.com\",\"port\":3478,\"proto\":\"udp\",\"status\":\"pass\",\"reason\":\"ok\",\"detail\":\"quality within guidance\",\"duration_ms\":5000,\"evidence\":{\"rtt_ms\":%.1f,\"jitter_ms\":%.1f,\"loss_pct\":%.1f,\"samples_rtt_ms\":[%s]}}]", rtt, jitter, loss, samples > file
      if (bad) printf ",\"fixes\":{\"domains\":[\"acme.my.connect.aws\"],\"cidrs\":[{\"cidr\":\"15.193.0.0/19\",\"proto\":\"udp\",\"port\":\"3478\"}]}" > file
      printf "}\n" > file
      close(file)
    }
  }'
}

generate 1000 "$work/r1000"
generate 10000 "$work/r10000"
echo "generated: 1,000 reports ($(du -sh "$work/r1000" | cut -f1)), 10,000 reports ($(du -sh "$work/r10000" | cut -f1))"
"$bin" summarize "$work/r10000" --format json | awk 'NR <= 4'

hyperfine --style basic --warmup 1 --runs 10 --export-csv "$work/t.csv" \
  "$bin summarize $work/r1000 --format json > /dev/null" \
  "$bin summarize $work/r10000 --format json > /dev/null"

rss() { /usr/bin/time -f %M "$bin" summarize "$1" --format json 2>&1 >/dev/null | tail -1; }
r1=$(rss "$work/r1000"); r10=$(rss "$work/r10000")
t1=$(awk -F, 'NR == 2 { print $2 }' "$work/t.csv"); t10=$(awk -F, 'NR == 3 { print $2 }' "$work/t.csv")

echo
echo "Results:"
awk -v t1="$t1" -v t10="$t10" -v r1="$r1" -v r10="$r10" 'BEGIN {
  printf "   1,000 reports: %.3f s  %6.0f reports/s  peak RSS %5.1f MB\n", t1, 1000 / t1, r1 / 1024
  printf "  10,000 reports: %.3f s  %6.0f reports/s  peak RSS %5.1f MB\n", t10, 10000 / t10, r10 / 1024
}'
