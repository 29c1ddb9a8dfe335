#!/usr/bin/env bash
# Smoke test of the real Lambda binaries: `cargo lambda watch` serves every function of the workspace
# under the Lambda runtime API; every events/<fn>/<what>.json is invoked and its statusCode compared with
# events/<fn>/<what>.expect. Needs moto answering on $MOTO_URL (use infra/local/with-moto.sh).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
VENV="${VENV:-.venv}"
case "$VENV" in /*) ;; *) VENV="$ROOT/$VENV" ;; esac
MOTO_URL="${MOTO_URL:-http://127.0.0.1:4566}"
PY="$VENV/bin/python"
export PATH="$VENV/bin:$PATH"   # cargo-lambda (and its zig) live in the venv
WATCH_STARTUP_TIMEOUT="${WATCH_STARTUP_TIMEOUT:-600}"
INVOKE_TIMEOUT="${INVOKE_TIMEOUT:-600}"
ENV_FILE=.dev/smoke.env
WATCH_LOG=.dev/smoke-watch.log

mkdir -p .dev
now_ms() { date +%s%3N; }

echo "smoke: provisioning prefix cc-smoke in $MOTO_URL"
"$PY" infra/local/provision.py provision --endpoint "$MOTO_URL" --prefix cc-smoke --env-out "$ENV_FILE"

PORT="$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"

WATCH_PID=""
stop_watch() {
    if [[ -n "$WATCH_PID" ]] && kill -0 "$WATCH_PID" 2>/dev/null; then
        # the watch runs in its own process group (setsid): stop it and the functions it spawned
        kill -TERM -- "-$WATCH_PID" 2>/dev/null || kill -TERM "$WATCH_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$WATCH_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL -- "-$WATCH_PID" 2>/dev/null || true
    fi
    WATCH_PID=""
}
trap stop_watch EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "smoke: starting cargo lambda watch on 127.0.0.1:$PORT (log $WATCH_LOG)"
setsid cargo lambda watch --ignore-changes --env-file "$ENV_FILE" \
    --invoke-address 127.0.0.1 --invoke-port "$PORT" --timeout "$INVOKE_TIMEOUT" \
    >"$WATCH_LOG" 2>&1 </dev/null &
WATCH_PID=$!

deadline=$((SECONDS + WATCH_STARTUP_TIMEOUT))
until [[ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$PORT/" 2>/dev/null || true)" != "000" ]]; do
    if ! kill -0 "$WATCH_PID" 2>/dev/null; then
        echo "smoke: cargo lambda watch exited; last lines of $WATCH_LOG:" >&2
        tail -n 40 "$WATCH_LOG" >&2 || true
        exit 1
    fi
    if (( SECONDS >= deadline )); then
        echo "smoke: cargo lambda watch did not answer within ${WATCH_STARTUP_TIMEOUT}s" >&2
        tail -n 40 "$WATCH_LOG" >&2 || true
        exit 1
    fi
    sleep 0.5
done
echo "smoke: watch ready"

# prints the statusCode of the invoke output on stdout (empty if none)
status_of() {
    "$PY" -c '
import json, sys
text = sys.stdin.read()
doc = None
try:
    doc = json.loads(text)
except ValueError:
    dec = json.JSONDecoder()
    for i, ch in enumerate(text):
        if ch == "{":
            try:
                doc, _ = dec.raw_decode(text[i:])
                if isinstance(doc, dict) and "statusCode" in doc:
                    break
            except ValueError:
                pass
if isinstance(doc, str):
    try:
        doc = json.loads(doc)
    except ValueError:
        doc = None
if isinstance(doc, dict) and "statusCode" in doc:
    print(doc["statusCode"])
elif isinstance(doc, dict) and "report" in doc:
    # Scheduled workers answer with their report.
    print("report")
elif isinstance(doc, dict) and "batchItemFailures" in doc:
    # SQS-triggered functions answer with their partial batch failures.
    print("batchItemFailures=%d" % len(doc["batchItemFailures"]))
else:
    print("")
'
}

LAST_MS=0
LAST_STATUS=""
invoke() { # invoke <binary> <event file>; sets LAST_STATUS, LAST_MS; output in .dev/smoke-last.out
    local start end
    start="$(now_ms)"
    if timeout "$INVOKE_TIMEOUT" cargo lambda invoke "$1" --invoke-address 127.0.0.1 --invoke-port "$PORT" \
        --data-file "$2" --output-format json >.dev/smoke-last.out 2>&1; then
        LAST_STATUS="$(status_of <.dev/smoke-last.out)"
    else
        LAST_STATUS=""
    fi
    end="$(now_ms)"
    LAST_MS=$((end - start))
}

passed=0
failed=0
first_projects_ms=""
second_projects_ms=""
shopt -s nullglob
for fn_dir in functions/*/; do
    fn="$(basename "$fn_dir")"
    [[ -f "$fn_dir/Cargo.toml" ]] || continue
    events=(events/"$fn"/*.json)
    if (( ${#events[@]} == 0 )); then
        echo "FAIL $fn: no sample events in events/$fn/"
        failed=$((failed + 1))
        continue
    fi
    for event in "${events[@]}"; do
        expect_file="${event%.json}.expect"
        if [[ ! -f "$expect_file" ]]; then
            echo "FAIL $event: missing $expect_file"
            failed=$((failed + 1))
            continue
        fi
        expected="$(tr -d '[:space:]' <"$expect_file")"
        invoke "$fn" "$event"
        if [[ "$fn" == "api-projects" && -z "$first_projects_ms" ]]; then
            first_projects_ms="$LAST_MS"
            invoke "$fn" "$event"   # the same event again: warm timing, and it must answer the same
            second_projects_ms="$LAST_MS"
        fi
        if [[ "$LAST_STATUS" == "$expected" ]]; then
            echo "ok   $event -> $LAST_STATUS (${LAST_MS} ms)"
            passed=$((passed + 1))
        else
            echo "FAIL $event -> ${LAST_STATUS:-no statusCode}, expected $expected; output:"
            sed 's/^/     /' .dev/smoke-last.out | head -n 30
            failed=$((failed + 1))
        fi
    done
done

for event_dir in events/*/; do
    fn="$(basename "$event_dir")"
    if [[ ! -f "functions/$fn/Cargo.toml" ]]; then
        echo "FAIL events/$fn/: no function crate functions/$fn"
        failed=$((failed + 1))
    fi
done

if [[ -n "$first_projects_ms" ]]; then
    echo "timing: api-projects first invoke after watch ready ${first_projects_ms} ms (includes building it), second ${second_projects_ms} ms"
fi
echo "$passed passed, $failed failed"
(( failed == 0 ))
