#!/usr/bin/env bash
# Start/stop the local moto server (AWS emulator) on 127.0.0.1:4566.
#   infra/local/moto.sh start   # reuses a moto that already answers (then writes no pid file)
#   infra/local/moto.sh stop    # stops only the moto this script started (by PID file)
#   infra/local/moto.sh status
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
case "$VENV" in /*) ;; *) VENV="$ROOT/$VENV" ;; esac
HOST=127.0.0.1
PORT="${MOTO_PORT:-4566}"
URL="http://$HOST:$PORT"
DEV_DIR="$ROOT/.dev"
PID_FILE="$DEV_DIR/moto.pid"
LOG_FILE="$DEV_DIR/moto.log"

moto_answers() {
    # moto's management API answers 200 on /moto-api/ (anything else is not moto)
    local code
    code="$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$URL/moto-api/" 2>/dev/null || true)"
    [[ "$code" == "200" ]]
}

port_taken() {
    (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null
}

start() {
    if moto_answers; then
        echo "moto already running, reusing it ($URL)"
        return 0
    fi
    if port_taken; then
        echo "error: port $PORT on $HOST is in use by something that is not moto ($URL/moto-api/ does not answer 200)." >&2
        echo "       Stop that process, or run moto elsewhere (MOTO_PORT=... and MOTO_URL=...)." >&2
        return 1
    fi
    if [[ ! -x "$VENV/bin/moto_server" ]]; then
        echo "error: $VENV/bin/moto_server not found; run 'make venv' first" >&2
        return 1
    fi
    mkdir -p "$DEV_DIR"
    # setsid: own process group, so a Ctrl-C in the calling terminal does not kill moto mid-test
    setsid "$VENV/bin/python" "$ROOT/infra/local/moto_server.py" "$HOST" "$PORT" >"$LOG_FILE" 2>&1 < /dev/null &
    local pid=$!
    echo "$pid" >"$PID_FILE"
    local deadline=$((SECONDS + 30))
    until moto_answers; do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$PID_FILE"
            echo "error: moto exited during start-up; last lines of $LOG_FILE:" >&2
            tail -n 20 "$LOG_FILE" >&2 || true
            return 1
        fi
        if (( SECONDS >= deadline )); then
            echo "error: moto did not answer on $URL within 30 s; see $LOG_FILE" >&2
            kill "$pid" 2>/dev/null || true
            rm -f "$PID_FILE"
            return 1
        fi
        sleep 0.2
    done
    echo "moto started on $URL (pid $pid, log $LOG_FILE)"
}

stop() {
    if [[ ! -f "$PID_FILE" ]]; then
        echo "no $PID_FILE: moto was not started by this script, leaving it alone"
        return 0
    fi
    local pid
    pid="$(cat "$PID_FILE")"
    if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -9 "$pid" 2>/dev/null || true
        fi
        echo "moto stopped (pid $pid)"
    else
        echo "moto (pid $pid) was not running"
    fi
    rm -f "$PID_FILE"
}

status() {
    if moto_answers; then
        echo "moto answers on $URL"
    else
        echo "moto does not answer on $URL"
        return 1
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
