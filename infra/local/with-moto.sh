#!/usr/bin/env bash
# Run a command with moto answering on 127.0.0.1:4566: start it if nothing answers, run the command,
# stop moto again only if this script started it. Exits with the command's exit code.
#   infra/local/with-moto.sh cargo test --workspace
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
MOTO_SH="$ROOT/infra/local/moto.sh"
PID_FILE="$ROOT/.dev/moto.pid"

if (( $# == 0 )); then
    echo "usage: $0 <command...>" >&2
    exit 2
fi

started=0
if [[ ! -f "$PID_FILE" ]] || ! kill -0 "$(cat "$PID_FILE" 2>/dev/null)" 2>/dev/null; then
    out="$("$MOTO_SH" start)" || { echo "$out"; exit 1; }
    echo "$out"
    # moto.sh writes a pid file only when it started a new moto
    [[ "$out" == moto\ started* ]] && started=1
fi

cleanup() {
    if (( started )); then
        "$MOTO_SH" stop
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$@"
exit $?
