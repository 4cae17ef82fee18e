#!/usr/bin/env bash
# The two-node lab on one machine: network namespaces nodea, nodeb and client on a bridge (198.18.0.0/24,
# VIP 198.18.0.100), haved + repcache on both nodes, replicating to each other.
#
#   scripts/lab.sh up       build the lab and start the daemons
#   scripts/lab.sh status   who holds the VIP, the caches' replication state, the daemons
#   scripts/lab.sh demo     the failover story: write through the VIP, kill the MASTER's cache, read back
#   scripts/lab.sh down     stop everything and delete the namespaces (also a half-made lab)
#   scripts/lab.sh config   only write the nodes' haved.conf files into LAB_DIR (no root needed)
#
# `proxy` after the command (or LAB_TOPOLOGY=proxy) gives seed 003's topology instead: each node also runs
# repcache-proxy on port 12000 (haved's proxy_daemon block), the VIP fronts the proxies, and the proxies spread
# the keys over both repcaches (each the backup of the other). `demo proxy` tells that story.
#
# Needs root. Settings (environment):
#   LAB_PREFIX      prefix of every namespace name (default none: nodea, nodeb, client, labbr)
#   LAB_DIR         configs, logs and pid files (default ${TMPDIR:-/tmp}/haved-lab-<prefix>)
#   LAB_SUPERVISE   1: haved runs repcache from its cache_daemon block (default);
#                   0: repcache runs directly in each node namespace and haved only moves the VIP
#   LAB_NOPREEMPT   1: nodea does not take the VIP back when it returns (default 0: failback once warm)
#   LAB_PREEMPT_SCHEDULE  a cron (node-cron, UTC): nodea takes the VIP back only when it fires,
#                   e.g. "*/20 * * * * *" (default none)
#   LAB_ADVERT_INT  advert_int in seconds (default 1, as in the seeds)
#   LAB_SYNC        1: repcache --replication-sync (a write is answered once the peer has it; default 0)
#   LAB_KEYS        keys the demo writes (default 1000)
#   LAB_KEEP        1: the demo leaves the lab up (default: it removes a lab it built itself; when the demo
#                   fails it stops the lab but keeps LAB_DIR, with every node's logs, and says so)
#   LAB_TOPOLOGY    cache (default) or proxy (as the `proxy` argument)
set -Eeuo pipefail

root=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
self=$(readlink -f "$0")
prefix=${LAB_PREFIX:-}
BR="${prefix}labbr"
NODES=(nodea nodeb)
CLIENT="${prefix}client"
SUBNET=198.18.0
VIP=$SUBNET.100
PORT=11211
REPL_PORT=11212
PROXY_PORT=12000
TOPOLOGY=${LAB_TOPOLOGY:-cache}
[ "${2:-}" = proxy ] && TOPOLOGY=proxy
LAB_DIR=${LAB_DIR:-${TMPDIR:-/tmp}/haved-lab${prefix:+-${prefix%-}}}
SUPERVISE=${LAB_SUPERVISE:-1}
KEYS=${LAB_KEYS:-1000}

ns_of() { echo "${prefix}$1"; }
addr_of() { case $1 in nodea) echo $SUBNET.1 ;; nodeb) echo $SUBNET.2 ;; client) echo $SUBNET.3 ;; esac; }
peer_of() { if [ "$1" = nodea ]; then echo nodeb; else echo nodea; fi; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
say() { printf '%s\n' "$*"; }
step() { printf '\n== %s\n' "$*"; }
die() { printf 'lab.sh: %s\n' "$*" >&2; exit 1; }
sync_flag() { if [ "${LAB_SYNC:-0}" = 1 ]; then echo " --replication-sync"; fi; }

need_root() {
  [ "$(id -u)" -eq 0 ] || die "needs root (network namespaces, ip addr): run it with sudo"
}

ns_exists() { ip netns list | awk '{print $1}' | grep -qx "$1"; }

# ---- memcached text protocol from inside a namespace (bash /dev/tcp, no client tools needed) ----------

# _mc HOST [TIMEOUT] [PORT]: internal, runs inside a namespace; sends stdin to HOST:PORT (default 11211) and prints
# the reply.
_mc() {
  local host=$1 t=${2:-2} port=${3:-$PORT}
  # shellcheck disable=SC2016 # expanded by the inner bash
  timeout "$t" bash -c '
    exec 3<>"/dev/tcp/$0/$1" || exit 1
    { cat; printf "quit\r\n"; } >&3
    cat <&3' "$host" "$port" 2>/dev/null
}

# mc NS HOST [TIMEOUT] [PORT] < commands
mc() { ip netns exec "$1" "$self" _mc "$2" "${3:-2}" "${4:-$PORT}"; }

# The port a client uses on HOST: through the VIP it is the proxy's in the proxy topology; a node's cache is on 11211.
port_for() { if [ "$1" = "$VIP" ] && [ "$TOPOLOGY" = proxy ]; then echo $PROXY_PORT; else echo $PORT; fi; }

stat_of() { # stat_of NODE NAME: one STAT of the node's cache, asked from the client
  mc "$CLIENT" "$(addr_of "$1")" 1 <<<$'stats\r' | tr -d '\r' | awk -v k="$2" '$1 == "STAT" && $2 == k {print $3}'
}

vip_holder() {
  local n
  for n in "${NODES[@]}"; do
    if ip -n "$(ns_of "$n")" -4 -o addr show dev eth0 2>/dev/null | grep -q " $VIP/"; then echo "$n"; return; fi
  done
  echo none
}

vip_holders() { # every node holding the VIP, space separated
  local n out=()
  for n in "${NODES[@]}"; do
    if ip -n "$(ns_of "$n")" -4 -o addr show dev eth0 2>/dev/null | grep -q " $VIP/"; then out+=("$n"); fi
  done
  echo "${out[*]}"
}

one_holder() { local h; h=$(vip_holders); [ -n "$h" ] && [ "${h// /}" = "$h" ]; }

# wait_for WHAT TIMEOUT_MS CMD...: polls CMD every 20 ms; prints the elapsed ms; fails after the timeout
wait_for() {
  local what=$1 limit=$2 start
  shift 2
  start=$(now_ms)
  until "$@" >/dev/null; do
    if [ $(($(now_ms) - start)) -gt "$limit" ]; then die "timed out after $limit ms waiting for $what"; fi
    sleep 0.02
  done
  echo $(($(now_ms) - start))
}

# ---- up / down ----------------------------------------------------------------------------------------

write_conf() { # write_conf NODE: haved.conf for one node
  local n=$1 dir=$LAB_DIR/$1 priority=100 state=BACKUP preempt=""
  local me peer
  me=$(addr_of "$n")
  peer=$(addr_of "$(peer_of "$n")")
  if [ "$n" = nodea ]; then priority=150; state=MASTER; fi
  [ "${LAB_NOPREEMPT:-0}" = 1 ] && preempt="nopreempt"
  [ -n "${LAB_PREEMPT_SCHEDULE:-}" ] && [ "$n" = nodea ] && preempt="preempt_schedule \"$LAB_PREEMPT_SCHEDULE\""
  cat >"$dir/check-cache.sh" <<CHECK
#!/usr/bin/env bash
# healthy when the local $([ "$TOPOLOGY" = proxy ] && echo proxy || echo cache) accepts a connection
exec 3<>/dev/tcp/127.0.0.1/$([ "$TOPOLOGY" = proxy ] && echo $PROXY_PORT || echo $PORT)
CHECK
  chmod +x "$dir/check-cache.sh"
  {
    cat <<CONF
! haved.conf for $n, written by scripts/lab.sh
global_defs {
    router_id $n
}

vrrp_script chk_cache {
    script "$dir/check-cache.sh"
    interval 0.2
    timeout 1
    fall 2
    rise 2
}

vrrp_instance lab_cache {
    state $state
    interface eth0
    virtual_router_id 51
    priority $priority
    advert_int ${LAB_ADVERT_INT:-1}
    $preempt
    unicast_src_ip $me
    unicast_peer {
        $peer
    }
    track_script {
        chk_cache
    }
    virtual_ipaddress {
        $VIP/24 dev eth0
    }
}
CONF
    if [ "$SUPERVISE" = 1 ]; then
      cat <<CONF

cache_daemon {
    command "$(repcache_cmd "$n")"
    restart_backoff 0.1 2
    stop_timeout 3
}
CONF
      if [ "$TOPOLOGY" = proxy ]; then
        cat <<CONF

# seed 003: the VIP fronts the proxy; haved keeps it running and moves the VIP when it dies
proxy_daemon {
    command "$(proxy_cmd)"
    restart_backoff 0.1 2
    stop_timeout 3
}
CONF
      fi
    fi
  } >"$dir/haved.conf"
}

repcache_cmd() { # the repcache command line of a node (without a pid file: it runs in the foreground)
  echo "$root/bin/repcache -p $PORT -U 0 -u nobody -m 64 -X $REPL_PORT -x $(addr_of "$(peer_of "$1")"):$REPL_PORT -o repl_secret_file=$LAB_DIR/repl.secret$(sync_flag)"
}

proxy_cmd() { # the proxy, the same on both nodes: keys spread over both repcaches, each the backup of the other
  local a b
  a=$(addr_of nodea):$PORT
  b=$(addr_of nodeb):$PORT
  echo "$root/bin/repcache-proxy -u nobody -p $PROXY_PORT -s $a -s $b -b $b -b $a --no-backup-writes --timeout 500 --retry-timeout 200"
}

# start_bg NS PIDFILE LOG CMD...: a daemon in a namespace, in its own session, output to LOG
start_bg() {
  local ns=$1 pidfile=$2 log=$3
  shift 3
  setsid ip netns exec "$ns" "$@" </dev/null >>"$log" 2>&1 &
  echo $! >"$pidfile"
  disown $! # no job notice when the demo kills it
}

start_repcache() { # start_repcache NODE (the LAB_SUPERVISE=0 fallback, and the demo's restart)
  local n=$1
  # shellcheck disable=SC2046 # the command line is split on purpose
  start_bg "$(ns_of "$n")" "$LAB_DIR/$n/repcache.pid" "$LAB_DIR/$n/repcache.log" $(repcache_cmd "$n")
}

start_proxy() { # start_proxy NODE (the LAB_SUPERVISE=0 proxy topology)
  # shellcheck disable=SC2046 # the command line is split on purpose
  start_bg "$(ns_of "$1")" "$LAB_DIR/$1/proxy.pid" "$LAB_DIR/$1/proxy.log" $(proxy_cmd)
}

add_ns() { # add_ns NAME ADDRESS PORTNAME
  local ns=$1 addr=$2 port=$3
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip -n "$ns" link add eth0 type veth peer name "$port" netns "$BR"
  ip -n "$BR" link set "$port" master br0 up
  ip -n "$ns" addr add "$addr/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" route add 224.0.0.0/4 dev eth0
}

configs() { # the nodes' haved.conf files, checked by haved -t
  local n
  mkdir -p "$LAB_DIR"
  touch "$LAB_DIR/.haved-lab"
  # the peers' replication secret (repcache wants one for a peer off loopback), readable by root only
  [ -s "$LAB_DIR/repl.secret" ] || (umask 077 && head -c 32 /dev/urandom | base64 >"$LAB_DIR/repl.secret")
  for n in "${NODES[@]}"; do
    mkdir -p "$LAB_DIR/$n"
    write_conf "$n"
    "$root/bin/haved" -t -f "$LAB_DIR/$n/haved.conf" >"$LAB_DIR/$n/config-check.log" 2>&1 \
      || die "haved rejects $LAB_DIR/$n/haved.conf: $(cat "$LAB_DIR/$n/config-check.log")"
  done
}

up() {
  need_root
  if ns_exists "$BR"; then die "a lab with prefix '${prefix}' is up already (scripts/lab.sh down first)"; fi
  trap 'say "lab.sh: up failed; the lab is removed, its logs are kept in $LAB_DIR" >&2; down keep-files >/dev/null 2>&1' EXIT
  ip netns add "$BR"
  ip -n "$BR" link set lo up
  ip -n "$BR" link add br0 type bridge
  ip -n "$BR" link set br0 up
  add_ns "$(ns_of nodea)" "$(addr_of nodea)" pa
  add_ns "$(ns_of nodeb)" "$(addr_of nodeb)" pb
  add_ns "$CLIENT" "$(addr_of client)" pc
  local n
  configs
  for n in "${NODES[@]}"; do
    [ "$SUPERVISE" = 1 ] || start_repcache "$n"
    [ "$SUPERVISE" = 1 ] || [ "$TOPOLOGY" != proxy ] || start_proxy "$n"
    start_bg "$(ns_of "$n")" "$LAB_DIR/$n/haved.pid" "$LAB_DIR/$n/haved.log" \
      "$root/bin/haved" -f "$LAB_DIR/$n/haved.conf" --state-file "$LAB_DIR/$n/state.json"
  done
  trap - EXIT
  say "lab up: namespaces $(ns_of nodea) ($(addr_of nodea)), $(ns_of nodeb) ($(addr_of nodeb)), $CLIENT ($(addr_of client)); VIP $VIP"
  say "files in $LAB_DIR ($([ "$SUPERVISE" = 1 ] && echo "haved supervises repcache" || echo "repcache runs directly; haved moves the VIP"))"
  [ "$TOPOLOGY" != proxy ] || say "seed 003 topology: repcache-proxy on port $PROXY_PORT of each node$([ "$SUPERVISE" = 1 ] && echo " (haved's proxy_daemon)"); clients use $VIP:$PROXY_PORT"
}

# running PID: the process exists and is not a zombie waiting to be reaped
running() {
  local st
  st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "${st%% *}" != Z ]
}

stop_pidfile() { # stop_pidfile FILE: SIGTERM, then SIGKILL after 3 s
  local f=$1 pid i
  [ -s "$f" ] || return 0
  pid=$(cat "$f")
  if kill -TERM "$pid" 2>/dev/null; then
    for i in $(seq 1 30); do
      running "$pid" || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

kill_ns() { # every process still in the namespace, then the namespace
  local ns=$1 pids
  ns_exists "$ns" || return 0
  pids=$(ip netns pids "$ns" 2>/dev/null || true)
  # shellcheck disable=SC2086
  [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
}

down() { # down [keep-files]: also removes LAB_DIR unless keep-files
  need_root
  local n
  for n in "${NODES[@]}"; do
    stop_pidfile "$LAB_DIR/$n/haved.pid" # haved first: it removes the VIP and stops what it supervises
    stop_pidfile "$LAB_DIR/$n/repcache.pid"
    stop_pidfile "$LAB_DIR/$n/proxy.pid"
  done
  for n in "${NODES[@]}"; do kill_ns "$(ns_of "$n")"; done
  kill_ns "$CLIENT"
  kill_ns "$BR"
  # only a directory this script made (marked) is removed
  if [ "${1:-}" != keep-files ] && [ -f "$LAB_DIR/.haved-lab" ]; then rm -rf "$LAB_DIR"; fi
  say "lab down"
}

status() {
  need_root
  local n ns
  if ! ns_exists "$BR"; then say "lab (prefix '${prefix}') is down"; return 3; fi
  say "VIP $VIP is on: $(vip_holder)"
  for n in "${NODES[@]}"; do
    ns=$(ns_of "$n")
    printf '%-6s %-15s haved %-8s repcache %-8s replication_state %s\n' "$n" "$(addr_of "$n")" \
      "$(alive "$LAB_DIR/$n/haved.pid")" "$(pgrep_ns "$ns" repcache >/dev/null && echo running || echo down)" \
      "$(stat_of "$n" replication_state || true)"
    if [ "$TOPOLOGY" = proxy ]; then
      printf '%-6s proxy %s\n' "" "$(pgrep_ns "$ns" repcache-proxy >/dev/null && echo running || echo down)"
    fi
  done
  if [ "$TOPOLOGY" = proxy ]; then say "the proxy behind the VIP sees its backends: $(backend_states)"; fi
}

alive() { if [ -s "$1" ] && running "$(cat "$1")"; then echo running; else echo down; fi; }

pgrep_ns() { # pgrep_ns NS NAME: pids in the namespace whose process name is NAME (repcache sets its title)
  local pid found=1
  for pid in $(ip netns pids "$1" 2>/dev/null); do
    if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ]; then echo "$pid"; found=0; fi
  done
  return $found
}

# ---- demo --------------------------------------------------------------------------------------------

write_keys() { # write_keys N: set lab:1..N through the VIP on one connection; prints how many were STORED
  local i
  for i in $(seq 1 "$1"); do printf 'set lab:%d 0 0 %d\r\nvalue-%d\r\n' "$i" $((6 + ${#i})) "$i"; done \
    | mc "$CLIENT" "$VIP" 10 "$(port_for "$VIP")" | grep -c STORED || true
}

read_keys() { # read_keys HOST N: how many of lab:1..N HOST returns with the right value
  local i
  for i in $(seq 1 "$2"); do printf 'get lab:%d\r\n' "$i"; done | mc "$CLIENT" "$1" 10 "$(port_for "$1")" | tr -d '\r' \
    | awk '/^VALUE lab:/ {split($2, k, ":"); want = "value-" k[2]; getline v; if (v == want) n++} END {print n + 0}'
}

# _wait_get HOST KEY [PORT]: internal, inside the client namespace: retries a get until it answers; prints ms
_wait_get() {
  local start
  start=$(now_ms)
  until _mc "$1" 0.3 "${3:-$PORT}" <<<"get $2"$'\r' | grep -q '^VALUE'; do
    [ $(($(now_ms) - start)) -lt 30000 ] || { echo timeout; return 1; }
    sleep 0.01
  done
  echo $(($(now_ms) - start))
}

# The MASTER transitions in a node's haved log (JSON lines): how many, and when the Nth was (epoch ms).
masters_logged() { grep -c '"msg":"[A-Z]* -> MASTER' "$LAB_DIR/$1/haved.log" || true; }
master_logged_after() { [ "$(masters_logged "$1")" -gt "$2" ]; }
nth_master_time() {
  grep '"msg":"[A-Z]* -> MASTER' "$LAB_DIR/$1/haved.log" | sed -n "${2}p" | grep -o '"time":[0-9]*' | cut -d: -f2
}

holder_is() { [ "$(vip_holder)" = "$1" ]; }
holder_not() { local h; h=$(vip_holder); [ "$h" != "$1" ] && [ "$h" != none ]; }
state_is() { [ "$(stat_of "$1" replication_state 2>/dev/null)" = "$2" ]; }
warm() { local s; s=$(stat_of "$1" replication_state 2>/dev/null); [ -n "$s" ] && [ "$s" != syncing ] && [ "$s" != partial ]; }

# demo_exit STATUS BUILT: a lab the demo built is removed, but a failed demo keeps its logs and says where
demo_exit() {
  if [ "$1" != 0 ]; then
    say "lab.sh: the demo failed (exit $1); logs, states and configs are kept in $LAB_DIR (<node>/haved.log)" >&2
    if [ "$2" = 1 ] && [ "${LAB_KEEP:-0}" != 1 ]; then down keep-files >/dev/null 2>&1 || true; fi
  elif [ "$2" = 1 ] && [ "${LAB_KEEP:-0}" != 1 ]; then
    down >/dev/null 2>&1 || true
  fi
}

demo() {
  need_root
  local built=0 master other ms t0 n hits restart_how before moved now
  if ! ns_exists "$BR"; then up; built=1; fi
  trap 'demo_exit $? '"$built" EXIT

  step "1. Two nodes elect a MASTER; it holds the VIP $VIP"
  if [ "${LAB_NOPREEMPT:-0}" = 1 ]; then
    ms=$(wait_for "a node to hold the VIP" 20000 holder_not none)
  else
    ms=$(wait_for "nodea (priority 150) to hold the VIP" 20000 holder_is nodea)
  fi
  master=$(vip_holder)
  other=$(peer_of "$master")
  say "$master ($(addr_of "$master")) holds the VIP (seen after ${ms} ms); $other is BACKUP"

  step "2. The two caches replicate to each other"
  for n in "${NODES[@]}"; do
    ms=$(wait_for "$n's cache to stream" 20000 state_is "$n" streaming)
    say "$n: replication_state streaming (after ${ms} ms)"
  done

  step "3. The client writes $KEYS keys through the VIP"
  t0=$(now_ms)
  n=$(write_keys "$KEYS")
  say "$n of $KEYS STORED in $(($(now_ms) - t0)) ms (via $VIP, so on $master)"
  sleep 0.3
  say "$other has $(read_keys "$(addr_of "$other")" "$KEYS") of them already (replicated)"

  step "4. kill -9 the cache on the MASTER ($master)"
  local pid
  pid=$(pgrep_ns "$(ns_of "$master")" repcache | head -1) || die "no repcache running on $master"
  before=$(masters_logged "$other")
  t0=$(now_ms)
  kill -KILL "$pid"
  say "killed repcache (pid $pid) on $master"
  ms=$(ip netns exec "$CLIENT" "$self" _wait_get "$VIP" lab:1)
  say "the VIP answers again after ${ms} ms (client outage)"
  # From haved's log, not by polling the address: a quick failback can move the VIP there and back between polls.
  wait_for "$other to become MASTER (its haved log, $LAB_DIR/$other/haved.log)" 20000 master_logged_after "$other" "$before" >/dev/null
  moved=$(nth_master_time "$other" $((before + 1)))
  say "the VIP moved to $other $((moved - t0)) ms after the kill"
  # For a moment both hold it: the old MASTER keeps it until the new one's first advert plus 100 ms.
  (wait_for "one node to hold the VIP" 5000 one_holder) >/dev/null 2>&1 || true
  now=$(vip_holders)
  case $now in
    "$other") say "the VIP is now on $other" ;;
    "$master") say "the VIP is already back on $master: its cache restarted, warmed up and it took the VIP back" ;;
    "") say "right now no node holds the VIP" ;;
    *) say "the VIP is on $now" ;;
  esac
  hits=$(read_keys "$VIP" "$KEYS")
  say "keys written before the kill that read back through the VIP: $hits of $KEYS ($(awk -v h="$hits" -v n="$KEYS" 'BEGIN {printf "%.1f", 100 * h / n}') %)"

  step "5. $master's cache comes back and resyncs from $other"
  if [ "$SUPERVISE" = 1 ]; then
    restart_how="haved restarts it"
  else
    restart_how="the lab restarts it (LAB_SUPERVISE=0)"
    start_repcache "$master"
  fi
  t0=$(now_ms)
  ms=$(wait_for "$master's cache to come back" 20000 pgrep_ns "$(ns_of "$master")" repcache)
  say "$restart_how: running after ${ms} ms"
  wait_for "$master's cache to be warm" 30000 warm "$master" >/dev/null
  say "$master: warm (replication_state $(stat_of "$master" replication_state)) $(($(now_ms) - t0)) ms after the restart," \
    "holding $(read_keys "$(addr_of "$master")" "$KEYS") of $KEYS keys"

  step "6. Failback"
  if [ "$SUPERVISE" = 1 ] && [ "$master" = nodea ]; then
    say "haved on $master kept it BACKUP (no failback) until its cache was warm; its log says:"
    say "  $(grep -o '"msg":"cache is warm[^"]*"' "$LAB_DIR/$master/haved.log" | tail -1 | sed 's/^"msg":"//; s/"$//')"
  fi
  if [ -n "${LAB_PREEMPT_SCHEDULE:-}" ] && [ "$master" = nodea ] && [ "${LAB_NOPREEMPT:-0}" != 1 ]; then
    say "preempt_schedule \"$LAB_PREEMPT_SCHEDULE\": the failback waits for the maintenance window"
    ms=$(wait_for "the VIP to return to $master" 90000 holder_is "$master")
    say "the window opened: the VIP is back on $master after ${ms} ms more ($(($(now_ms) - t0)) ms after the restart)"
    say "keys through the VIP after failback: $(read_keys "$VIP" "$KEYS") of $KEYS"
  elif [ "${LAB_NOPREEMPT:-0}" = 1 ]; then
    sleep 5
    say "nopreempt: the VIP stays on $(vip_holder) (no second interruption for the clients)"
  elif [ "$master" != nodea ]; then
    sleep 5
    say "the VIP stays on $(vip_holder): $master has the lower priority"
  else
    wait_for "the VIP to return to $master" 30000 holder_is "$master" >/dev/null
    say "the VIP is back on $master $(($(now_ms) - t0)) ms after the restart (warm, so priority 150 preempts 100)"
    say "keys through the VIP after failback: $(read_keys "$VIP" "$KEYS") of $KEYS"
  fi

  step "Done"
  if [ "$built" = 1 ] && [ "${LAB_KEEP:-0}" != 1 ]; then
    say "removing the lab (LAB_KEEP=1 keeps it; logs are in $LAB_DIR until then)"
  else
    say "the lab is still up: scripts/lab.sh status | down; logs in $LAB_DIR"
  fi
}

# ---- demo: seed 003's topology (LAB_TOPOLOGY=proxy) ---------------------------------------------------------

proxy_stats() { # proxy_stats [ARGS]: `stats [ARGS]` of the proxy behind the VIP, as "NAME VALUE" lines
  mc "$CLIENT" "$VIP" 1 "$PROXY_PORT" <<<"stats${1:+ $1}"$'\r' | tr -d '\r' | awk '$1 == "STAT" {print $2, $3}'
}

backend_states() { # e.g. "198.18.0.1:11211 up, 198.18.0.2:11211 down"
  proxy_stats backends | awk '$1 ~ /_addr$/ {a = $2} $1 ~ /_state$/ {printf "%s%s %s", sep, a, $2; sep = ", "} END {print ""}'
}

backend_stat() { # backend_stat NODE NAME: a stat of the node's cache as the proxy behind the VIP sees it
  proxy_stats backends | awk -v addr="$(addr_of "$1"):$PORT" -v k="$2" \
    '$1 ~ /_addr$/ {mine = ($2 == addr)} mine && $1 ~ ("^backend_[0-9]+_" k "$") {print $2}'
}

backend_is() { [ "$(backend_stat "$1" state)" = "$2" ]; }
proxy_answers() { [ -n "$(backend_states)" ]; }

demo_proxy() {
  need_root
  local built=0 master other victim ms n pid hits
  if ! ns_exists "$BR"; then up; built=1; fi
  [ "$built" = 1 ] && [ "${LAB_KEEP:-0}" != 1 ] && trap 'down >/dev/null 2>&1 || true' EXIT

  step "1. Seed 003: two nodes, each with repcache, repcache-proxy and haved; the MASTER holds the VIP $VIP"
  if [ "${LAB_NOPREEMPT:-0}" = 1 ]; then
    ms=$(wait_for "a node to hold the VIP" 20000 holder_not none)
  else
    ms=$(wait_for "nodea (priority 150) to hold the VIP" 20000 holder_is nodea)
  fi
  master=$(vip_holder)
  other=$(peer_of "$master")
  say "$master holds the VIP (seen after ${ms} ms); clients use $VIP:$PROXY_PORT"
  for n in "${NODES[@]}"; do wait_for "$n's cache to stream" 20000 state_is "$n" streaming >/dev/null; done
  wait_for "the proxy behind the VIP" 20000 proxy_answers >/dev/null
  say "the proxy behind the VIP sees both caches: $(backend_states)"

  step "2. The client writes $KEYS keys through the VIP: the proxy spreads them over both caches"
  n=$(write_keys "$KEYS")
  say "$n of $KEYS STORED through $VIP:$PROXY_PORT"
  say "the proxy sent $(backend_stat nodea calls) requests to nodea's repcache and $(backend_stat nodeb calls) to nodeb's (ketama);" \
    "each repcache replicates to the other, so each key has a copy on both"

  victim=$other
  step "3. kill -9 the cache on $victim"
  pid=$(pgrep_ns "$(ns_of "$victim")" repcache | head -1) || die "no repcache running on $victim"
  kill -KILL "$pid"
  say "killed repcache (pid $pid) on $victim"
  hits=$(read_keys "$VIP" "$KEYS")
  say "reads through the VIP right after the kill: $hits of $KEYS (the keys of $victim's cache come from its backup)"
  n=$(write_keys "$KEYS")
  say "writes keep landing: $n of $KEYS STORED"
  say "the proxy marked it down: $(backend_states); the VIP stayed on $(vip_holder) (no failover needed)"
  ms=$(wait_for "the proxy to use $victim's cache again" 30000 backend_is "$victim" up)
  say "haved restarted it, it copied the data from its peer before opening its port, and the proxy uses it again" \
    "(after ${ms} ms): $(backend_states)"
  say "$victim's cache holds $(read_keys "$(addr_of "$victim")" "$KEYS") of $KEYS keys"

  step "4. kill -9 the proxy on the MASTER ($master)"
  pid=$(pgrep_ns "$(ns_of "$master")" repcache-proxy | head -1) || die "no repcache-proxy running on $master"
  kill -KILL "$pid"
  say "killed repcache-proxy (pid $pid) on $master"
  ms=$(ip netns exec "$CLIENT" "$self" _wait_get "$VIP" lab:1 "$PROXY_PORT")
  say "the VIP answers again after ${ms} ms (client outage)"
  wait_for "the VIP to move" 20000 holder_not "$master" >/dev/null
  say "the VIP is now on $(vip_holder), whose proxy was running already"
  say "keys read back through the VIP: $(read_keys "$VIP" "$KEYS") of $KEYS"
  ms=$(wait_for "haved to restart the proxy on $master" 20000 pgrep_ns "$(ns_of "$master")" repcache-proxy)
  say "haved restarted the proxy on $master after ${ms} ms"
  if [ "$master" = nodea ] && [ "${LAB_NOPREEMPT:-0}" != 1 ] && [ -z "${LAB_PREEMPT_SCHEDULE:-}" ]; then
    ms=$(wait_for "the VIP to return to $master" 30000 holder_is "$master")
    say "the VIP is back on $master after ${ms} ms more (priority 150; a proxy has nothing to warm up)"
    say "keys through the VIP after failback: $(read_keys "$VIP" "$KEYS") of $KEYS"
  fi

  step "Done"
  if [ "$built" = 1 ] && [ "${LAB_KEEP:-0}" != 1 ]; then
    say "removing the lab (LAB_KEEP=1 keeps it; logs are in $LAB_DIR until then)"
  else
    say "the lab is still up: scripts/lab.sh status proxy | down; logs in $LAB_DIR"
  fi
}

# A mistyped setting fails here with its name, not later in the middle of the lab.
check_settings() {
  local v
  for v in LAB_SUPERVISE LAB_NOPREEMPT LAB_SYNC LAB_KEEP; do
    case ${!v:-0} in 0 | 1) ;; *) die "$v must be 0 or 1, got \"${!v}\"" ;; esac
  done
  [[ $KEYS =~ ^[1-9][0-9]*$ ]] || die "LAB_KEYS must be a positive integer, got \"$KEYS\""
  case $TOPOLOGY in cache | proxy) ;; *) die "LAB_TOPOLOGY must be cache or proxy, got \"$TOPOLOGY\"" ;; esac
  [[ ${LAB_ADVERT_INT:-1} =~ ^([0-9]+(\.[0-9]+)?|\.[0-9]+)$ ]] ||
    die "LAB_ADVERT_INT must be seconds (e.g. 1 or 0.1), got \"$LAB_ADVERT_INT\""
}

case "${1:-}" in
  up | down | status | demo | config) check_settings ;;
esac
case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  demo) if [ "$TOPOLOGY" = proxy ]; then demo_proxy; else demo; fi ;;
  config) configs; say "wrote $LAB_DIR/nodea/haved.conf and $LAB_DIR/nodeb/haved.conf" ;;
  _mc) _mc "$2" "${3:-2}" "${4:-$PORT}" ;;
  _wait_get) _wait_get "$2" "$3" "${4:-$PORT}" ;;
  *) say "Usage: $0 up|down|status|demo|config [proxy]   (root but config; see the top of this file for settings)" >&2; exit 2 ;;
esac
