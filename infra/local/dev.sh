#!/usr/bin/env bash
# `make dev`: venv, moto (reused if already running), resources from template.yaml, then the dev server
# (package cc-local) on 127.0.0.1:$PORT in the foreground. Ctrl-C stops the server, and moto if started here.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
VENV="${VENV:-.venv}"
MOTO_URL="${MOTO_URL:-http://127.0.0.1:4566}"
PORT="${PORT:-8000}"
export PORT

make --no-print-directory venv VENV="$VENV"

started_moto=0
stop_moto() {
    if (( started_moto )); then
        infra/local/moto.sh stop || true
    fi
}
trap stop_moto EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

out="$(infra/local/moto.sh start)"
echo "$out"
[[ "$out" == moto\ started* ]] && started_moto=1

"$VENV/bin/python" infra/local/provision.py provision --endpoint "$MOTO_URL" --prefix cc-dev --env-out .dev/env

if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    echo "port $PORT is already in use: stop what uses it or run PORT=$((PORT + 1)) make dev" >&2
    exit 1
fi

# Outside services (API.md §0.9): GITHUB_API_URL, GITHUB_TOKEN, GITHUB_WEBHOOK_SECRET and the
# REGISTRY_*_URL variables set in this shell reach the dev server and its job runners unchanged
# (.dev/env holds only what provisioning created, so it never overrides them).
set -a
# shellcheck disable=SC1091
. .dev/env
set +a
export PORT
echo "dev: GitHub at ${GITHUB_API_URL:-https://api.github.com} ($([[ -n "${GITHUB_TOKEN:-}" ]] && echo "server token set" || echo "no server token: anonymous unless a project or repository has one"))"
echo "dev: starting cc-local on http://127.0.0.1:$PORT (env from .dev/env)"
# not exec: the EXIT trap must run afterwards to stop moto
cargo run -p cc-local --bin cc-local
