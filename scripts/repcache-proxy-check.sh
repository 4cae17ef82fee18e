#!/usr/bin/env bash
# The vrrp_script of seed 003's setup, for repcache-proxy (it replaces /opt/magent.sh). keepalived or haved runs it
# every `interval`: it exits 0 while the proxy runs on this host, starting it when it does not, and non-zero when
# the proxy cannot be started, so the instance goes to FAULT and the VIP moves to a node whose proxy runs.
# Unlike magent, `repcache-proxy -d` returns only once it listens (or exits non-zero with the reason), and the pid
# file tells whether it runs: no `ps | grep`, no second copy started over a running one.
# Settings: /etc/sysconfig/repcache-proxy (OPTIONS, PIDFILE) or the environment.
#   OPTIONS   the proxy's flags, e.g. "-u root -n 51200 -p 12000 -s 10.0.0.1 -s 10.0.0.2 -b 10.0.0.2 -b 10.0.0.1 --no-backup-writes"
#             (listen on all addresses, the default, rather than -l VIP: the BACKUP runs its proxy too)
#   PIDFILE   default /run/repcache-proxy.pid
set -u
here=$(dirname "$(readlink -f "$0")")
CMD=${REPCACHE_PROXY_CMD:-$here/../bin/repcache-proxy}
CONF=${REPCACHE_PROXY_SYSCONFIG:-/etc/sysconfig/repcache-proxy}
# shellcheck disable=SC1090
[ -r "$CONF" ] && . "$CONF"
: "${OPTIONS:?set OPTIONS (the repcache-proxy flags) in $CONF or the environment}"
PIDFILE=${PIDFILE:-/run/repcache-proxy.pid}

# running: the pid file names a live repcache-proxy (not a process that reused the pid of a killed one)
if [ -s "$PIDFILE" ] && [ "$(cat "/proc/$(cat "$PIDFILE")/comm" 2>/dev/null)" = repcache-proxy ]; then exit 0; fi
# shellcheck disable=SC2086 # OPTIONS is a list of flags
exec "$CMD" -d -P "$PIDFILE" $OPTIONS
