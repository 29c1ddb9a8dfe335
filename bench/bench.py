#!/usr/bin/env python3
"""`make bench`: each function's release binary under the Lambda Runtime API emulator
(bench/emulator.py), driven by its sample events (events/<function>/*.json) and, for
api-technologies, an authenticated GET by id and a create on data the bench makes first.

Per function and event it measures:
- cold start: process spawn → the first response reaching the emulator, over --spawns spawns
  (min / median / max);
- CPU per warm invocation: the process's CPU time (every thread, /proc/<pid>/task/*/schedstat,
  in ns) over --warm invocations after one warm-up, divided by their number — the emulator's and
  the AWS stub's own time is not in it;
- peak RSS (VmHWM) of the warm process;
- AWS calls per warm invocation, counted at the AWS proxy;
- the zipped size of the arm64 binary (`cargo lambda build --release --arm64`).

AWS is moto (a stack provisioned per run) behind bench/awsproxy.py. With --aws canned (the
default) the proxy answers every request it has seen once from its recording, at once, so cold
start and wall time are the function's own; with --aws moto every call goes to moto.

Writes bench/RESULTS.md and prints the same table.
"""
import argparse
import io
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from awsproxy import AwsProxy  # noqa: E402
from emulator import Emulator, status_of  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def cpu_ns(pid: int) -> int:
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def vm_hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def aws_calls(body: bytes) -> str:
    try:
        doc = json.loads(body)
        headers = {k.lower(): v for k, v in (doc.get("headers") or {}).items()}
    except (ValueError, AttributeError):
        return "—"
    m = re.search(r'aws;desc="(\d+) calls"', headers.get("server-timing", ""))
    return m.group(1) if m else "—"


AWS_ENV: dict = {}


def function_env(name: str, port: int) -> dict:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "TABLE_NAME": "bench-table",
        "BUCKET_NAME": "bench-bucket",
        "KMS_KEY_ID": "alias/bench",
        "JWT_SECRET": "bench-secret-bench-secret-bench-secret!",
        "SERVER_TIMING": "1",
        "RUST_LOG": os.environ.get("BENCH_RUST_LOG", "info"),  # the template's level
    }
    env.update(AWS_ENV)
    if "JWT_SECRET_ARN" in AWS_ENV:
        env.pop("JWT_SECRET", None)
    return env


def units_text(r: dict) -> str:
    if r.get("dynamodb_rru") is None:
        return "—"
    return f"{r['dynamodb_rru']:g} / {r['dynamodb_wru']:g}"


def zipped_size(name: str) -> str:
    bootstrap = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "lambda" / name / "bootstrap"
    if not bootstrap.exists():
        return "—"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.write(bootstrap, "bootstrap")
    return f"{len(buf.getvalue()) / 1048576:.2f} MiB"


def spawn(binary: Path, name: str, port: int) -> subprocess.Popen:
    return subprocess.Popen([str(binary)], env=function_env(name, port),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()


PROXY = None
PERF_DIR = None


def bench_event(binary: Path, name: str, event_name: str, make, expect, spawns: int, warm: int) -> dict:
    """`make(i)`: the i-th invocation's event (bytes)."""
    counter = iter(range(10**9))

    def body():
        return make(next(counter))
    # A fresh emulator per process: a killed process's pending `next` must not take the
    # following process's event.
    # One process primes the AWS stub with this event's calls (with --aws canned they are
    # answered from the recording afterwards).
    emu = Emulator()
    try:
        proc = spawn(binary, name, emu.port)
        emu.invoke(body())
        stop(proc)
    finally:
        emu.close()
    colds = []
    inits = []
    status = None
    for _ in range(spawns):
        emu = Emulator()
        try:
            emu.events.put(body())
            started = time.perf_counter()
            proc = spawn(binary, name, emu.port)
            kind, at, answer = emu.done.get(timeout=30)
            colds.append((at - started) * 1000)
            inits.append(((emu.first_next or at) - started) * 1000)
            status = status_of(kind, answer)
            stop(proc)
        finally:
            emu.close()
    units = {}
    emu = Emulator()
    try:
        proc = spawn(binary, name, emu.port)
        kind, _, answer = emu.invoke(body())
        calls = aws_calls(answer)
        proxied = PROXY.calls if PROXY else 0
        ops_before = PROXY.ops.copy() if PROXY else None
        units_before = PROXY.units.copy() if PROXY else None
        perf = None
        if PERF_DIR:
            slug = re.sub(r"[^a-z0-9]+", "-", f"{name} {event_name}".lower()).strip("-")
            PERF_DIR.mkdir(parents=True, exist_ok=True)
            perf = subprocess.Popen(["perf", "record", "-q", "-F", "20000", "-o",
                                     str(PERF_DIR / f"{slug}.data"), "-p", str(proc.pid)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
        before = cpu_ns(proc.pid)
        started = time.perf_counter()
        for _ in range(warm):
            kind, _, answer = emu.invoke(body())
        wall = (time.perf_counter() - started) * 1000 / warm
        if perf:
            perf.send_signal(signal.SIGINT)
            perf.wait()
        if PROXY:
            calls = f"{(PROXY.calls - proxied) / warm:.1f}"
            ops = PROXY.ops - ops_before
            units = {k: (PROXY.units[k] - units_before[k]) / warm for k in ("rru", "wru")}
            if ops:
                calls += " (" + ", ".join(f"{op} {n / warm:g}" for op, n in sorted(ops.items())) + ")"
        last = status_of(kind, answer)
        cpu = (cpu_ns(proc.pid) - before) / warm / 1e6
        rss = vm_hwm_kib(proc.pid)
        stop(proc)
    finally:
        emu.close()
    return {
        "function": name,
        "event": event_name,
        "status": status if status == last else f"{status} then {last}",
        "expected": expect,
        "cold_min": min(colds),
        "cold_p50": statistics.median(colds),
        "cold_max": max(colds),
        "init_p50": statistics.median(inits),
        "cpu_ms": cpu,
        "wall_ms": wall,
        "rss_mib": rss / 1024,
        "aws_calls": calls,
        "dynamodb_rru": units["rru"] if PROXY else None,
        "dynamodb_wru": units["wru"] if PROXY else None,
        "zipped": zipped_size(name),
    }


TEMPLATE_EVENT = ROOT / "events" / "api-technologies" / "list-unauthenticated.json"


def http_event(method: str, path: str, body=None, headers=None, source_ip=None) -> bytes:
    """An API Gateway HTTP API (payload 2.0) event for `method path` with a JSON body."""
    ev = json.loads(TEMPLATE_EVENT.read_text())
    ev["routeKey"] = f"{method} {path}"
    ev["rawPath"] = path
    ev["requestContext"]["http"]["method"] = method
    ev["requestContext"]["http"]["path"] = path
    ev["requestContext"]["routeKey"] = f"{method} {path}"
    ev["headers"].update({k.lower(): v for k, v in (headers or {}).items()})
    if source_ip:
        ev["requestContext"]["http"]["sourceIp"] = source_ip
    if body is not None:
        ev["headers"]["content-type"] = "application/json"
        ev["body"] = json.dumps(body)
    return json.dumps(ev).encode()


def call(target: Path, function: str, event: bytes) -> tuple:
    """One invocation of `function` (a process of its own): (status, JSON body)."""
    emu = Emulator()
    proc = spawn(target / "release" / function, function, emu.port)
    try:
        kind, _, answer = emu.invoke(event)
    finally:
        stop(proc)
        emu.close()
    doc = json.loads(answer)
    return doc.get("statusCode"), json.loads(doc.get("body") or "null")


def seed(target: Path) -> dict:
    """A user, a project and a technology, made through the functions themselves."""
    email = f"bench{int(time.time() * 1000)}@example.com"
    creds = {"email": email, "password": "correct horse battery staple"}
    status, _ = call(target, "api-auth", http_event("POST", "/api/v1/auth/register", creds))
    assert status == 201, f"register: {status}"
    status, token = call(target, "api-auth", http_event("POST", "/api/v1/auth/login", creds))
    assert status == 200, f"login: {status}"
    auth = {"authorization": f"Bearer {token['access_token']}"}
    status, project = call(target, "api-projects", http_event(
        "POST", "/api/v1/projects", {"name": "Bench", "owner": "bench"}, auth))
    assert status == 201, f"project: {status}"
    scoped = {**auth, "x-project-id": str(project["id"])}
    status, tech = call(target, "api-technologies", http_event(
        "POST", "/api/v1/technologies", {"title": "Tokio", "domain": "infrastructure"}, scoped))
    assert status == 201, f"technology: {status}"
    return {"auth": auth, "scoped": scoped, "technology": tech["id"], "creds": creds}


def provision(moto: str) -> dict:
    prefix = f"cc-bench-{int(time.time())}"
    out = subprocess.run(
        [sys.executable, str(ROOT / "infra/local/provision.py"), "provision", "--endpoint", moto,
         "--prefix", prefix, "--json"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main() -> int:
    global PROXY, PERF_DIR
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--functions", default="", help="comma-separated; default: every function with events")
    ap.add_argument("--spawns", type=int, default=10)
    ap.add_argument("--warm", type=int, default=500)
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "bench" / "RESULTS.md"))
    ap.add_argument("--moto", default=os.environ.get("MOTO_URL", "http://127.0.0.1:4566"),
                    help="moto, reached through a keep-alive proxy (bench/awsproxy.py)")
    ap.add_argument("--aws", choices=("canned", "moto"), default="canned",
                    help="canned: the proxy answers requests it has seen from its recording; "
                         "moto: every call goes to moto")
    ap.add_argument("--perf", default="",
                    help="a directory: record each warm loop with `perf record` (needs symbols: "
                         "CARGO_PROFILE_RELEASE_STRIP=false); CPU figures then include perf's overhead")
    ap.add_argument("--no-arm64", action="store_true",
                    help="do not build the arm64 binaries whose zipped size the table shows")
    args = ap.parse_args()
    PERF_DIR = Path(args.perf).resolve() if args.perf else None
    names = [f for f in args.functions.split(",") if f] or sorted(
        p.name for p in (ROOT / "events").iterdir() if p.is_dir() and any(p.glob("*.json")))
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    if not args.no_build:
        cmd = ["cargo", "build", "--release"] + [x for n in names for x in ("-p", n)]
        print("bench:", " ".join(cmd), flush=True)
        subprocess.run(cmd, cwd=ROOT, check=True)
        if not args.no_arm64:
            # Every function (one cargo invocation; `make build` does the same): the size table
            # below covers them all.
            cmd = ["cargo", "lambda", "build", "--release", "--arm64"] + [
                x for f in sorted((ROOT / "functions").iterdir()) if f.is_dir() for x in ("-p", f.name)]
            print("bench:", " ".join(cmd), flush=True)
            subprocess.run(cmd, cwd=ROOT, check=True)
    env = provision(args.moto)
    # Seeding writes for real; replay starts with the measurements.
    PROXY = AwsProxy(args.moto)
    AWS_ENV.update({k: v for k, v in env.items() if isinstance(v, str)})
    AWS_ENV["AWS_ENDPOINT_URL"] = PROXY.url
    rows = []

    def record(row):
        rows.append(row)
        print(f"bench: {row['function']}/{row['event']}: status {row['status']} cold p50 "
              f"{row['cold_p50']:.1f} ms (init {row['init_p50']:.1f}), CPU {row['cpu_ms']:.3f} ms/invocation, "
              f"RSS {row['rss_mib']:.1f} MiB, AWS calls {row['aws_calls']}", flush=True)

    if "api-technologies" in names:
        for f in ("api-auth", "api-projects"):
            if f not in names and not (target / "release" / f).exists():
                subprocess.run(["cargo", "build", "--release", "-p", f], cwd=ROOT, check=True)
        s = seed(target)
    PROXY.replay = args.aws == "canned"
    if "api-technologies" in names:
        tid = s["technology"]
        record(bench_event(target / "release" / "api-technologies", "api-technologies",
                           "get-by-id (authenticated)",
                           lambda i: http_event("GET", f"/api/v1/technologies/{tid}", None, s["auth"]),
                           "200", args.spawns, args.warm))
        record(bench_event(target / "release" / "api-technologies", "api-technologies",
                           "create (authenticated)",
                           lambda i: http_event("POST", "/api/v1/technologies",
                                                {"title": f"Bench {time.time_ns()} {i}",
                                                 "domain": "infrastructure"}, s["scoped"]),
                           "201", args.spawns, args.warm))
        # Login verifies an Argon2id hash: the CPU-bound request. Each invocation comes from its own
        # address (the limit is 10 per minute per client address).
        record(bench_event(target / "release" / "api-auth", "api-auth", "login (Argon2id verify)",
                           lambda i: http_event("POST", "/api/v1/auth/login", s["creds"],
                                                source_ip=f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"),
                           "200", args.spawns, min(args.warm, 100)))
    for name in names:
        binary = target / "release" / name
        for event in sorted((ROOT / "events" / name).glob("*.json")):
            data = event.read_bytes()
            expect_file = event.with_suffix(".expect")
            expect = expect_file.read_text().strip() if expect_file.exists() else None
            record(bench_event(binary, name, event.stem, lambda i, d=data: d, expect,
                               args.spawns, args.warm))
    header = ("| function | event | status | cold start min / p50 / max (ms) | of which init p50 (ms) | CPU per warm invocation (ms) "
              "| wall per warm invocation (ms) | peak RSS (MiB) | AWS calls | DynamoDB RRU / WRU | zipped arm64 |\n"
              "|---|---|---|---|---|---|---|---|---|---|---|\n")
    lines = [
        f"| {r['function']} | {r['event']} | {r['status']}"
        f"{'' if r['expected'] in (None, r['status']) else ' (expected ' + r['expected'] + ')'} "
        f"| {r['cold_min']:.1f} / {r['cold_p50']:.1f} / {r['cold_max']:.1f} | {r['init_p50']:.1f} | {r['cpu_ms']:.3f} "
        f"| {r['wall_ms']:.3f} | {r['rss_mib']:.1f} | {r['aws_calls']} "
        f"| {units_text(r)} | {r['zipped']} |"
        for r in rows
    ]
    machine = f"{os.uname().machine}, {os.cpu_count()} cores"
    aws_text = ("AWS answered by a keep-alive stub replaying moto's recorded answers at once, so cold "
                "start and wall time are the function's own" if args.aws == "canned" else
                "AWS answered by moto through a keep-alive proxy: CPU is the function's own, cold start "
                "and wall time include moto's latency")
    text = (f"# Bench results\n\n`make bench` on {time.strftime('%Y-%m-%d')} ({machine}, release build, "
            f"{args.spawns} spawns, {args.warm} warm invocations per event; {aws_text}).\n\n" + header + "\n".join(lines) + "\n")
    sizes = [(f.name, zipped_size(f.name)) for f in sorted((ROOT / "functions").iterdir()) if f.is_dir()]
    if any(z != "—" for _, z in sizes):
        text += ("\nZipped arm64 size of every function (`bootstrap` alone, zip level 9; — where "
                 "`cargo lambda build --release --arm64` has not built it):\n\n| function | zipped arm64 |\n"
                 "|---|---|\n" + "".join(f"| {n} | {z} |\n" for n, z in sizes))
    Path(args.out).write_text(text)
    Path(args.out).with_suffix(".json").write_text(json.dumps(rows, indent=1) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
