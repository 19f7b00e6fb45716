#!/usr/bin/env bash
# `check`'s performance on a network with latency, measured in network namespaces this script
# creates and removes (nothing else is touched: documentation addresses only, no interface of the
# machine, the veth ends are created inside the namespaces):
#
#   agent 192.0.2.10 ── 192.0.2.1 edge 198.51.100.1 ── 198.51.100.2 aws (203.0.113.0/24 on lo)
#
# The edge runs dnsmasq (the agent's resolver, answering every host of the real catalog for
# eu-central-1, instance `acme`, `--with ccp-v1` with its own 203.0.113.x address) and routes the
# agent's traffic through a userspace delay line on a TUN device (these kernels have no netem):
# every packet to or from a host is held for that host's one-way delay. The AWS side runs nginx
# (TLS, one certificate from a CA made here) and a WebSocket backend for the `rtc` host.
#
# Figures (each printed with PASS or FAIL; the script exits 1 on a miss):
#  1. concurrency: the whole catalog's wall time (media skipped: its quality sample has a fixed
#     length) against the slowest host's DNS+TCP+TLS+HTTPS chain measured alone (a one-host
#     catalog, the sum of its checks' durations): at most 1.2x.
#  2. black hole: everything dropped at the edge (nftables, DNS included), the full check (media
#     included) with --timeout 5s ends within 6 s.
#  3. peak RSS (/usr/bin/time %M) of every run: at most 50 MB.
#
# Needs root, iproute2, nftables, dnsmasq, nginx, openssl, python3, jq and GNU time.
# CHECK_BIN=path uses that binary instead of building the release one. KEEP=1 keeps the work
# folder (reports, logs).
set -euo pipefail
cd "$(dirname "$0")/.."

RATIO_MAX=1.2
BLACKHOLE_TIMEOUT=5
BLACKHOLE_SLACK=1
RSS_MAX_KB=$((50 * 1024))
# One-way delays in milliseconds: the instance (three HTTPS paths, the longest chain) gets the
# largest, the other hosts less, each its own.
SLOW_MS=80
OTHER_MS=(15 25 35 45 55 60 30 20)

for tool in ip nft dnsmasq nginx openssl python3 jq /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "bench/check.sh: $tool is missing" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "bench/check.sh: needs root (network namespaces)" >&2; exit 2; }
PY=$(python3 -c 'import sys; print(sys.executable)')

if [ -n "${CHECK_BIN:-}" ]; then
  bin=$(realpath "$CHECK_BIN")
else
  cargo build --release --locked --quiet
  bin=$PWD/target/release/connect-preflight
fi

work=$(mktemp -d /tmp/connect-preflight-bench.XXXXXX)
chmod 755 "$work"
prefix="cpb-$$"
agent="$prefix-agent" edge="$prefix-edge" aws="$prefix-aws"
pids=()

cleanup() {
  set +e
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  for ns in "$agent" "$edge" "$aws"; do
    ip netns list 2>/dev/null | grep -q "^$ns\b" || continue
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null
  done
  if [ -n "${KEEP:-}" ]; then
    echo "work folder kept: $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# --- The namespaces -------------------------------------------------------------------------
for ns in "$agent" "$edge" "$aws"; do
  ip netns add "$ns"
  ip -n "$ns" link set lo up
done
ip link add a0 netns "$agent" type veth peer name e0 netns "$edge"
ip link add e1 netns "$edge" type veth peer name w0 netns "$aws"
ip -n "$agent" addr add 192.0.2.10/24 dev a0
ip -n "$edge" addr add 192.0.2.1/24 dev e0
ip -n "$edge" addr add 198.51.100.1/24 dev e1
ip -n "$aws" addr add 198.51.100.2/24 dev w0
for pair in "$agent a0" "$edge e0" "$edge e1" "$aws w0"; do
  set -- $pair
  ip -n "$1" link set "$2" up
done
ip -n "$agent" route add default via 192.0.2.1
ip -n "$edge" route add 203.0.113.0/24 via 198.51.100.2
ip -n "$aws" route add 192.0.2.0/24 via 198.51.100.1
in_ns "$edge" sysctl -q -w net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
  net.ipv4.conf.default.rp_filter=0

# --- The hosts the check contacts -------------------------------------------------------------
target=(-r eu-central-1 -i acme --with ccp-v1)
mapfile -t hosts < <("$bin" check "${target[@]}" --list --no-progress 2>/dev/null |
  sed -nE 's/^([a-z0-9.-]+) (tcp|udp)\/[0-9]+ \(.*/\1 \2/p')
[ "${#hosts[@]}" -ge 3 ] || { echo "bench/check.sh: could not read the plan's hosts" >&2; exit 2; }
instance=acme.my.connect.aws
declare -A addr delay
names=() i=0
for line in "${hosts[@]}"; do
  set -- $line
  names+=("$1")
  if [ "$2" = udp ]; then
    addr[$1]=203.0.113.200
  else
    addr[$1]=203.0.113.$((10 + i))
    ip -n "$aws" addr add "${addr[$1]}/32" dev lo
  fi
  if [ "$1" = "$instance" ]; then delay[$1]=$SLOW_MS; else delay[$1]=${OTHER_MS[i % ${#OTHER_MS[@]}]}; fi
  i=$((i + 1))
done
[ -n "${addr[$instance]:-}" ] || { echo "bench/check.sh: $instance is not in the plan" >&2; exit 2; }

# --- Certificates, ranges, catalogs -------------------------------------------------------------
openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -days 2 \
  -subj "/CN=Bench Root CA" -keyout "$work/ca.key" -out "$work/ca.pem" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  2>/dev/null
openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -subj "/CN=bench" \
  -keyout "$work/leaf.key" -out "$work/leaf.csr" 2>/dev/null
sans=$(printf 'DNS:%s,' "${names[@]}")
printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' \
  "${sans%,}" >"$work/leaf.ext"
openssl x509 -req -in "$work/leaf.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
  -days 2 -extfile "$work/leaf.ext" -out "$work/leaf.pem" 2>/dev/null

today=$(date -u +%Y-%m-%d-00-00-00)
cat >"$work/ip-ranges.json" <<EOF
{"syncToken": "$(date +%s)", "createDate": "$today", "prefixes": [
{"ip_prefix": "203.0.113.0/24", "region": "eu-central-1", "service": "AMAZON", "network_border_group": "eu-central-1"},
{"ip_prefix": "203.0.113.0/25", "region": "eu-central-1", "service": "EC2", "network_border_group": "eu-central-1"},
{"ip_prefix": "203.0.113.192/26", "region": "eu-central-1", "service": "AMAZON_CONNECT", "network_border_group": "eu-central-1"}
], "ipv6_prefixes": []}
EOF
# The instance alone, as the real catalog has it.
cat >"$work/instance.toml" <<'EOF'
version = 1

[[region]]
code = "eu-central-1"
name = "Europe (Frankfurt), bench"

[[endpoint]]
id = "instance"
group = "core"
host = "{instance_domain}"
ports = ["tcp/443"]
paths = ["/ccp-v2/", "/api", "/auth/authorize"]
purpose = "The instance"
source = "bench"

[[rule]]
id = "ec2-api"
group = "core"
service = "EC2"
regions = ["{region}"]
ports = ["tcp/443"]
purpose = "The instance"
source = "bench"
EOF

# --- The servers --------------------------------------------------------------------------------
wait_port() { # NS ADDR PORT: bounded wait for a listener
  for _ in $(seq 100); do
    in_ns "$1" bash -c "exec 3<>/dev/tcp/$2/$3" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "bench/check.sh: nothing listens on $2:$3 in $1" >&2
  return 1
}

{
  printf 'no-resolv\nno-hosts\nno-poll\nbind-interfaces\nkeep-in-foreground\npid-file=\n'
  printf 'user=root\ncache-size=0\nlisten-address=192.0.2.1\nlog-facility=%s\n' "$work/dnsmasq.log"
  for n in "${names[@]}"; do printf 'address=/%s/%s\n' "$n" "${addr[$n]}"; done
} >"$work/dnsmasq.conf"
in_ns "$edge" dnsmasq --conf-file="$work/dnsmasq.conf" &
pids+=($!)
wait_port "$edge" 192.0.2.1 53

cat >"$work/ws-backend.py" <<'EOF'
# A WebSocket backend behind nginx: 101 with the RFC 6455 accept value, a Close answered.
import base64, hashlib, socket, threading, time
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
def serve(conn):
    conn.settimeout(5)
    head = b""
    try:
        while b"\r\n\r\n" not in head and len(head) < 16384:
            chunk = conn.recv(4096)
            if not chunk:
                return
            head += chunk
        key = None
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"sec-websocket-key":
                key = value.strip()
        if key is None:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        if conn.recv(2)[:1] == b"\x88":
            conn.sendall(b"\x88\x00")
    except OSError:
        pass
    finally:
        conn.close()
listener = socket.create_server(("127.0.0.1", 8080))
end = time.monotonic() + 600
listener.settimeout(1)
while time.monotonic() < end:
    try:
        conn, _ = listener.accept()
    except socket.timeout:
        continue
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
EOF
in_ns "$aws" "$PY" "$work/ws-backend.py" &
pids+=($!)
wait_port "$aws" 127.0.0.1 8080

{
  printf 'daemon off;\nmaster_process off;\nworker_processes 1;\npid %s/nginx.pid;\n' "$work"
  printf 'error_log %s/nginx-error.log;\nevents { worker_connections 512; }\nhttp {\n' "$work"
  printf '  access_log off;\n  client_body_temp_path %s/nb;\n  proxy_temp_path %s/np;\n' "$work" "$work"
  printf '  fastcgi_temp_path %s/nf;\n  uwsgi_temp_path %s/nu;\n  scgi_temp_path %s/ns;\n' "$work" "$work" "$work"
  printf '  ssl_certificate %s/leaf.pem;\n  ssl_certificate_key %s/leaf.key;\n' "$work" "$work"
  printf '  ssl_protocols TLSv1.2 TLSv1.3;\n'
  for n in "${names[@]}"; do
    [ "${addr[$n]}" = 203.0.113.200 ] && continue
    printf '  server {\n    listen %s:443 ssl;\n    server_name _;\n' "${addr[$n]}"
    case $n in
      rtc.*) printf '    location / {\n      proxy_pass http://127.0.0.1:8080;\n      proxy_http_version 1.1;\n      proxy_set_header Upgrade $http_upgrade;\n      proxy_set_header Connection "upgrade";\n    }\n' ;;
      *) printf '    location / { return 200 "bench\\n"; }\n' ;;
    esac
    printf '  }\n'
  done
  printf '}\n'
} >"$work/nginx.conf"
in_ns "$aws" nginx -e "$work/nginx-error.log" -p "$work" -c "$work/nginx.conf" &
pids+=($!)
for n in "${names[@]}"; do
  [ "${addr[$n]}" = 203.0.113.200 ] || wait_port "$aws" "${addr[$n]}" 443
done

# The delay line: the edge routes what arrives from either side into the TUN device `dl0`; the
# line holds each packet for the delay of the host it goes to or comes from, then writes it back,
# and the edge routes it on (packets from dl0 take the main table).
cat >"$work/delay.py" <<'EOF'
import fcntl, heapq, os, select, socket, struct, sys, time
name, default_ms, *rules = sys.argv[1:]
delays = {}
for rule in rules:
    ip, ms = rule.split("=")
    delays[socket.inet_aton(ip)] = int(ms) / 1000
default = int(default_ms) / 1000
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, 0x400454CA, struct.pack("16sH", name.encode(), 0x0001 | 0x1000))  # TUNSETIFF, IFF_TUN|IFF_NO_PI
print("ready", flush=True)
heap, seq, end = [], 0, time.monotonic() + 600
while time.monotonic() < end:
    wait = max(0.0, heap[0][0] - time.monotonic()) if heap else 1.0
    if select.select([fd], [], [], wait)[0]:
        packet = os.read(fd, 65536)
        hold = default
        if len(packet) >= 20 and packet[0] >> 4 == 4:
            hold = delays.get(packet[16:20], delays.get(packet[12:16], default))
        heapq.heappush(heap, (time.monotonic() + hold, seq, packet))
        seq += 1
    while heap and heap[0][0] <= time.monotonic():
        os.write(fd, heapq.heappop(heap)[2])
EOF
rules=()
for n in "${names[@]}"; do rules+=("${addr[$n]}=${delay[$n]}"); done
in_ns "$edge" "$PY" "$work/delay.py" dl0 0 "${rules[@]}" >"$work/delay.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q ready "$work/delay.log" 2>/dev/null && break; sleep 0.05; done
grep -q ready "$work/delay.log" || { echo "bench/check.sh: the delay line did not start" >&2; exit 2; }
ip -n "$edge" link set dl0 up
in_ns "$edge" sysctl -q -w net.ipv4.conf.dl0.rp_filter=0
ip -n "$edge" route add default dev dl0 table 100
ip -n "$edge" rule add iif e0 lookup 100 priority 100
ip -n "$edge" rule add iif e1 lookup 100 priority 101

# --- The runs -----------------------------------------------------------------------------------
mkdir -p "$work/home/certs"
: >"$work/os-store.pem"
run_check() { # NAME ARGS...: runs check in the agent namespace; sets wall_s and rss_kb
  local name=$1; shift
  in_ns "$agent" env -i PATH="$PATH" HOME="$work/home" XDG_CONFIG_HOME="$work/home/config" \
    XDG_CACHE_HOME="$work/home/cache" CONNECT_PREFLIGHT_CACHE_DIR="$work/home/cache" \
    SSL_CERT_FILE="$work/os-store.pem" SSL_CERT_DIR="$work/home/certs" NO_COLOR=1 \
    /usr/bin/time -o "$work/$name.time" -f '%e %M' \
    "$bin" check --format json --no-progress --no-proxy --dns-server 192.0.2.1 \
    --ip-ranges "$work/ip-ranges.json" --ca-file "$work/ca.pem" "$@" \
    >"$work/$name.json" 2>"$work/$name.err" || true
  # GNU time puts "Command exited with non-zero status N" first when the check fails.
  read -r wall_s rss_kb < <(tail -n 1 "$work/$name.time")
}
# The slowest host's chain: its checks' durations (the steps of one host run in sequence).
chain_ms() { # REPORT HOST
  jq --arg h "$2" '[.checks[] | select(.host == $h and (.kind | IN("dns","tcp","tls","https","websocket"))) | .duration_ms] | add // 0' "$1"
}
failures() { # REPORT: checks that failed or warned
  jq -r '.checks[] | select(.status == "fail" or .status == "warn") | "\(.id) \(.status) \(.reason)"' "$1"
}

status=0
verdict() { # LABEL FIGURE OK
  if [ "$3" = 1 ]; then echo "PASS  $1: $2"; else echo "FAIL  $1: $2"; status=1; fi
}

tcp_hosts=$(printf '%s\n' "${hosts[@]}" | grep -c ' tcp$')
echo "bench/check.sh: $tcp_hosts hosts over TCP (and the TURN relay's name); one-way delay ${SLOW_MS} ms to $instance, 15-60 ms to the others"
run_check warmup -r eu-central-1 -i acme --endpoints "$work/instance.toml"
run_check alone -r eu-central-1 -i acme --endpoints "$work/instance.toml"
alone_wall=$wall_s alone_rss=$rss_kb
alone_chain=$(chain_ms "$work/alone.json" "$instance")
bad=$(failures "$work/alone.json")
[ -z "$bad" ] || { echo "bench/check.sh: the instance alone does not pass:"; echo "$bad"; exit 1; } >&2

run_check whole "${target[@]}" --skip media
whole_wall=$wall_s whole_rss=$rss_kb
bad=$(failures "$work/whole.json")
[ -z "$bad" ] || { echo "bench/check.sh: the whole catalog does not pass:"; echo "$bad"; exit 1; } >&2
slowest=$(for n in "${names[@]}"; do printf '%s %s\n' "$(chain_ms "$work/whole.json" "$n")" "$n"; done | sort -n | tail -1)
ratio=$(echo "$whole_wall $alone_chain" | awk '{ printf "%.2f", $1 * 1000 / $2 }')
ok=$(echo "$ratio $RATIO_MAX" | awk '{ print ($1 <= $2) ? 1 : 0 }')
echo "      the instance alone: chain $alone_chain ms (dns+tcp+tls+3 https), wall ${alone_wall} s"
echo "      whole catalog: $tcp_hosts hosts over TCP, wall ${whole_wall} s; its slowest chain: ${slowest% *} ms (${slowest#* })"
verdict "concurrency" "whole-catalog wall ${whole_wall} s = ${ratio}x the slowest host's chain alone (limit ${RATIO_MAX}x)" "$ok"

# Everything dropped at the edge: what the agent sends is forwarded nowhere, and DNS to the
# edge is dropped too.
in_ns "$edge" nft -f - <<'EOF'
table inet bench_blackhole {
  chain forward { type filter hook forward priority 0; policy drop; }
  chain input { type filter hook input priority 0; iifname "e0" drop; }
}
EOF
run_check blackhole "${target[@]}" --timeout "${BLACKHOLE_TIMEOUT}s"
bh_wall=$wall_s bh_rss=$rss_kb
in_ns "$edge" nft delete table inet bench_blackhole
limit=$((BLACKHOLE_TIMEOUT + BLACKHOLE_SLACK))
ok=$(echo "$bh_wall $limit" | awk '{ print ($1 <= $2) ? 1 : 0 }')
not_tested=$(jq '[.checks[] | select(.reason == "not_tested" or .reason == "timeout")] | length' "$work/blackhole.json")
verdict "black hole" "--timeout ${BLACKHOLE_TIMEOUT}s, media included: ended in ${bh_wall} s (limit ${limit} s; $not_tested checks timed out or not tested)" "$ok"

peak=$(printf '%s\n' "$alone_rss" "$whole_rss" "$bh_rss" | sort -n | tail -1)
ok=$([ "$peak" -le "$RSS_MAX_KB" ] && echo 1 || echo 0)
verdict "peak RSS" "$(awk -v k="$peak" 'BEGIN { printf "%.1f", k / 1024 }') MB ($peak KiB; alone $alone_rss, whole $whole_rss, black hole $bh_rss; limit 50 MB)" "$ok"
exit $status
