#!/usr/bin/env bash
# Contract test of the OpenAPI document (part of `make test`): schemathesis runs every operation of
# /openapi.json against the dev server with all of its checks (its default; `--checks all` is not
# passed because a check named on the command line would override the per-operation exceptions of
# schemathesis.toml), and must report no failure.
#
# Needs moto answering on $MOTO_URL (infra/local/with-moto.sh). Provisions the template's resources
# under a unique prefix, builds and starts the dev server (package cc-local) on a free port, registers
# a user with a project and a personal access token, runs schemathesis (pinned in
# requirements-dev.txt) with a fixed seed and a bounded number of examples per operation, then stops
# the server by its PID. Reports: .dev/schemathesis/ (JUnit, JSON, server log).
#
#   ST_MAX_EXAMPLES   examples per operation in the fuzzing phase (default 5; the coverage phase
#                     walks every documented boundary regardless; the run takes ~3 minutes)
#   ST_SEED           generation seed (default 20261202): the same seed generates the same cases
#   ST_WORKERS        concurrent operations (default 1: with two, CPython 3.11's `ast` module, which
#                     hypothesis uses in worker threads to describe its strategies, fails now and
#                     then with "SystemError: AST constructor recursion depth mismatch" — a race
#                     fixed in CPython 3.12, python/cpython#106905 — and the run reports a Runtime
#                     Error that is not the API's)
#   ST_ARGS           extra arguments for `schemathesis run` (e.g. --include-path-regex technologies)
#
# The exceptions API.md makes to schemathesis's defaults are in infra/local/schemathesis.toml, each
# with its reason.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
VENV="${VENV:-.venv}"
case "$VENV" in /*) ;; *) VENV="$ROOT/$VENV" ;; esac
MOTO_URL="${MOTO_URL:-http://127.0.0.1:4566}"
MAX_EXAMPLES="${ST_MAX_EXAMPLES:-5}"
SEED="${ST_SEED:-20261202}"
PY="$VENV/bin/python"
ST="$VENV/bin/schemathesis"
OUT=.dev/schemathesis
mkdir -p "$OUT"

if [[ ! -x "$ST" ]]; then
    echo "schemathesis: $ST not found; run 'make venv' (requirements-dev.txt pins it)" >&2
    exit 1
fi

PREFIX="cc-st-$(date +%s)-$$"
echo "schemathesis: provisioning prefix $PREFIX in $MOTO_URL"
"$PY" infra/local/provision.py provision --endpoint "$MOTO_URL" --prefix "$PREFIX" --env-out "$OUT/env" >/dev/null

echo "schemathesis: building the dev server"
cargo build -q -p cc-local

PORT="$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
BASE="http://127.0.0.1:$PORT"

SERVER_PID=""
stop_server() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=""
}
trap stop_server EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The per-user write limit (RATE_LIMIT_PER_MINUTE, 600) would refuse most writes of a run this
# dense with 429 (documented, but then nothing behind it is exercised): the run raises it. The
# client-address buckets of register/login/refresh keep their limits, so those answer 429 once
# their window is full, as documented. The server runs without its job pollers
# (LOCAL_JOB_POLLERS=off): the contract is the HTTP API, and polling 18 queues every 500 ms would
# keep moto, which serves one request at a time, busy for the whole run.
(
    set -a
    # shellcheck disable=SC1091
    . "$OUT/env"
    set +a
    # GitHub-backed routes answer 502 github_error at once: nothing listens on port 9.
    export PORT RATE_LIMIT_PER_MINUTE=1000000 LOG_FORMAT=json LOCAL_JOB_POLLERS=off GITHUB_API_URL=http://127.0.0.1:9
    exec "$ROOT/target/debug/cc-local"
) >"$OUT/server.log" 2>&1 </dev/null &
SERVER_PID=$!

deadline=$((SECONDS + 60))
until curl -fs -o /dev/null -m 2 "$BASE/health"; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "schemathesis: the dev server exited; last lines of $OUT/server.log:" >&2
        tail -n 20 "$OUT/server.log" >&2 || true
        exit 1
    fi
    if (( SECONDS >= deadline )); then
        echo "schemathesis: the dev server did not answer on $BASE within 60 s" >&2
        exit 1
    fi
    sleep 0.2
done
echo "schemathesis: dev server on $BASE (pid $SERVER_PID)"

# A user, a project and a personal access token for the run (a session token would be revoked by
# the first POST /auth/logout).
read -r TOKEN PROJECT RUN_USER TOKEN_ID < <("$PY" - "$BASE" "$PREFIX" <<'PYEOF'
import json, sys, urllib.request
base, prefix = sys.argv[1], sys.argv[2]
def call(method, path, body=None, token=None):
    req = urllib.request.Request(base + path, method=method,
                                 data=None if body is None else json.dumps(body).encode())
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)
email = f"{prefix}@schemathesis.example.com"
password = "correct horse battery staple"
call("POST", "/api/v1/auth/register", {"email": email, "password": password, "full_name": "Schemathesis"})
session = call("POST", "/api/v1/auth/login", {"email": email, "password": password})["access_token"]
project = call("POST", "/api/v1/projects", {"name": "Schemathesis", "owner": "contract"}, session)["id"]
pat = call("POST", "/api/v1/auth/tokens", {"name": "schemathesis"}, session)
me = call("GET", "/api/v1/auth/me", token=pat["token"])["id"]
print(pat["token"], project, me, pat["id"])
PYEOF
)

sed -e "s/@TOKEN@/$TOKEN/g" \
    infra/local/schemathesis.toml >"$OUT/schemathesis.toml"

# read by infra/local/schemathesis_hooks.py
export ST_PROJECT_ID="$PROJECT" ST_USER_ID="$RUN_USER" ST_TOKEN_ID="$TOKEN_ID"
echo "schemathesis: $MAX_EXAMPLES examples per operation, seed $SEED, all checks"
started=$SECONDS
status=0
# shellcheck disable=SC2086
"$ST" --config-file "$OUT/schemathesis.toml" run "$BASE/openapi.json" \
    --max-examples "$MAX_EXAMPLES" \
    --seed "$SEED" \
    --generation-database none \
    --workers "${ST_WORKERS:-1}" \
    --no-color \
    --report junit,json --report-dir "$OUT" \
    ${ST_ARGS:-} || status=$?
echo "schemathesis: finished in $((SECONDS - started)) s (exit $status); reports in $OUT"
exit "$status"
