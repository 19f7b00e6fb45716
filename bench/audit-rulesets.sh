#!/usr/bin/env bash
# Speed of `audit` on large rulesets evaluated as the kernel walks them: a 5,000-rule
# iptables-save file and a 5,000-rule nft ruleset (user chains, jumps, drops, accepts on the
# ports Connect uses, a drop policy), each audited for eu-central-1 with the JSON report.
# Target: each evaluated in under 100 ms (hyperfine's median of the whole run: reading,
# parsing, walking every requirement at every hook, the report).
# Prints PASS or FAIL per file and exits 1 if one is missed.
# Needs: hyperfine python3 (Debian packages); builds the release binary.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in hyperfine python3; do
  command -v "$tool" >/dev/null || { echo "bench/audit-rulesets.sh needs $tool (apt-get install hyperfine python3)" >&2; exit 1; }
done

cargo build --release --quiet
export CONNECT_PREFLIGHT_CACHE_DIR="$(mktemp -d)"
bin=${BIN:-${CARGO_TARGET_DIR:-target}/release/connect-preflight}
work=$(mktemp -d)
trap 'rm -rf "$work" "$CONNECT_PREFLIGHT_CACHE_DIR"' EXIT
rules=${RULES:-5000}
runs=${RUNS:-20}

python3 - "$work" "$rules" <<'PY'
import random, sys
work, n = sys.argv[1], int(sys.argv[2])
random.seed(20261204)
def net():
    return "%d.%d.%d.0/24" % (random.randint(1, 223), random.randint(0, 255), random.randint(0, 255))
chains = ["c%d" % i for i in range(50)]
ipt = ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD DROP [0:0]", ":OUTPUT DROP [0:0]"]
ipt += [":%s - [0:0]" % c for c in chains]
nft = ["flush ruleset", "table inet bench {", "  chain output {", "    type filter hook output priority filter; policy drop;"]
body = {c: [] for c in chains}
out_ipt, out_nft = [], []
for i in range(n):
    r = random.random()
    where = "OUTPUT" if i < n // 2 else random.choice(chains)
    port = random.choice(["-p tcp -m tcp --dport 443", "-p udp -m udp --dport 3478", "-p tcp -m multiport --dports 80,443,8443", ""])
    nport = {"-p tcp -m tcp --dport 443": "tcp dport 443", "-p udp -m udp --dport 3478": "udp dport 3478",
             "-p tcp -m multiport --dports 80,443,8443": "tcp dport { 80, 443, 8443 }", "": ""}[port]
    d = net()
    if r < 0.02 and where == "OUTPUT":
        c = random.choice(chains)
        rule_i, rule_n = "-A OUTPUT -d %s -j %s" % (d, c), "ip daddr %s jump %s" % (d, c)
    elif r < 0.3:
        rule_i, rule_n = "-A %s -d %s %s -j DROP" % (where, d, port), "ip daddr %s %s drop" % (d, nport)
    else:
        rule_i, rule_n = "-A %s -d %s %s -j ACCEPT" % (where, d, port), "ip daddr %s %s accept" % (d, nport)
    ipt.append(" ".join(rule_i.split()))
    (out_nft if where == "OUTPUT" else body[where]).append("    " + " ".join(rule_n.split()))
ipt.append("COMMIT")
nft += out_nft + ["  }"]
for c in chains:
    nft += ["  chain %s {" % c] + body[c] + ["  }"]
nft.append("}")
open(work + "/rules.v4", "w").write("\n".join(ipt) + "\n")
open(work + "/rules.nft", "w").write("\n".join(nft) + "\n")
PY

status=0
for f in rules.v4 rules.nft; do
  count=$(grep -c -E '^-A |^    ip ' "$work/$f")
  hyperfine --runs "$runs" --warmup 2 --ignore-failure --export-json "$work/$f.json" \
    "$bin -q audit --region eu-central-1 --cidrs $work/$f --format json" > /dev/null
  ms=$(python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['results'][0]; print('%.1f' % (r['median']*1000))" "$work/$f.json")
  verdict=$(python3 -c "print('PASS' if float('$ms') < 100 else 'FAIL')")
  [ "$verdict" = PASS ] || status=1
  echo "$verdict $f: $count rules evaluated in $ms ms (median of $runs; target < 100 ms)"
done
exit $status
