#!/usr/bin/env bash
# repcache service script: start|stop|restart|status, like the memcached_service.sh of the classic setup,
# but it stops the daemon it started (by pid file) instead of `killall memcached`.
# Settings: /etc/sysconfig/repcache (PORT, USER, MAXCONN, CACHESIZE, OPTIONS) or the environment.
set -u
here=$(dirname "$(readlink -f "$0")")
CMD=${REPCACHE_CMD:-$here/../bin/repcache}
CONF=${REPCACHE_SYSCONFIG:-/etc/sysconfig/repcache}
# shellcheck disable=SC1090
[ -r "$CONF" ] && . "$CONF"
PORT=${PORT:-11211}
USER=${USER:-nobody}
MAXCONN=${MAXCONN:-1024}
CACHESIZE=${CACHESIZE:-64}
OPTIONS=${OPTIONS:-}
PIDFILE=${PIDFILE:-/run/repcache-$PORT.pid}

running() {
  [ -s "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null
}

start() {
  if running; then echo "repcache already running (pid $(cat "$PIDFILE"))"; return 0; fi
  # shellcheck disable=SC2086
  "$CMD" -d -P "$PIDFILE" -p "$PORT" -u "$USER" -c "$MAXCONN" -m "$CACHESIZE" $OPTIONS || return 1
  echo "repcache started (pid $(cat "$PIDFILE"), port $PORT)"
}

stop() {
  if ! running; then echo "repcache not running"; rm -f "$PIDFILE"; return 0; fi
  pid=$(cat "$PIDFILE")
  kill "$pid"
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$PIDFILE"; echo "repcache stopped"; return 0; }
    sleep 0.1
  done
  echo "repcache (pid $pid) did not stop in 10 s; sending SIGKILL" >&2
  kill -9 "$pid" 2>/dev/null
  rm -f "$PIDFILE"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  restart) stop; start ;;
  status) if running; then echo "repcache running (pid $(cat "$PIDFILE"))"; else echo "repcache not running"; exit 3; fi ;;
  *) echo "Usage: $0 {start|stop|restart|status}" >&2; exit 2 ;;
esac
