#!/usr/bin/env python3
"""The nightly sync end to end on the dev server against the fake GitHub (issue 9's "done when").

Provisions a stack of its own in moto, starts the fake GitHub (target/debug/fake-github) and the
dev server (target/debug/cc-local, job pollers on) pointed at it, tracks N repositories, then
fires `nightly-sync` three times through POST /_local/events/nightly-sync:
  1. first sync of every repository (unconditional: nothing stored yet);
  2. nothing changed: every GitHub request must be a conditional one answered 304, and the
     fake's rate-limit counter must not move;
  3. after K repositories got a new commit: exactly those K report changes_detected.
Prints the measurements as JSON. Needs `cargo build -p cc-local -p cc-tests --bins` and moto.

usage: infra/local/nightly_demo.py [--repos 200] [--changed 3] [--moto http://127.0.0.1:4566]
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def call(method, url, body=None, token=None, project=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if project:
        req.add_header("X-Project-ID", str(project))
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def wait_for(url, deadline_s=60):
    end = time.time() + deadline_s
    while time.time() < end:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except Exception:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repos", type=int, default=200)
    ap.add_argument("--changed", type=int, default=3)
    ap.add_argument("--fanout-only", action="store_true",
                    help="fire once and report the fan-out (jobs created and queued), without waiting for the syncs")
    ap.add_argument("--moto", default=os.environ.get("MOTO_URL", "http://127.0.0.1:4566"))
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="nightly-demo-")
    prefix = "nd" + uuid.uuid4().hex[:8]
    py = os.path.join(ROOT, ".venv/bin/python")
    subprocess.run(
        [py, os.path.join(ROOT, "infra/local/provision.py"), "provision", "--endpoint", args.moto,
         "--prefix", prefix, "--env-out", os.path.join(work, "env")],
        check=True, stdout=subprocess.DEVNULL,
    )
    env = dict(os.environ)
    for line in open(os.path.join(work, "env")):
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            env[k] = v.strip("'\"")
    gh_port, port = free_port(), free_port()
    gh_url = f"http://127.0.0.1:{gh_port}"
    base = f"http://127.0.0.1:{port}"
    env.update(PORT=str(port), GITHUB_API_URL=gh_url, RATE_LIMIT_PER_MINUTE="1000000",
               LOG_FORMAT="json", RUST_LOG="warn")
    procs = []
    try:
        procs.append(subprocess.Popen([os.path.join(ROOT, "target/debug/fake-github"), f"127.0.0.1:{gh_port}"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        if args.fanout_only:
            # Measure the fan-out alone: no job pollers competing for moto.
            env["LOCAL_JOB_POLLERS"] = "off"
        procs.append(subprocess.Popen([os.path.join(ROOT, "target/debug/cc-local")], env=env,
                                      stdout=open(os.path.join(work, "server.log"), "w"),
                                      stderr=subprocess.STDOUT))
        wait_for(f"{gh_url}/_fake/stats")
        wait_for(f"{base}/health")

        email = f"demo-{uuid.uuid4().hex[:8]}@example.com"
        call("POST", f"{base}/api/v1/auth/register", {"email": email, "password": "password123"})
        _, tok = call("POST", f"{base}/api/v1/auth/login", {"email": email, "password": "password123"})
        token = tok["access_token"]
        _, project = call("POST", f"{base}/api/v1/projects", {"name": "Nightly", "owner": "acme"}, token)
        pid = project["id"]
        call("POST", f"{gh_url}/_fake/repos?n={args.repos}&owner=acme")
        t0 = time.time()
        for i in range(args.repos):
            st, body = call("POST", f"{base}/api/v1/repositories", {"owner": "acme", "name": f"repo-{i}"}, token, pid)
            assert st == 201, body
        track_s = time.time() - t0

        def repositories():
            st, repos = call("GET", f"{base}/api/v1/repositories?limit=500", token=token, project=pid)
            assert st == 200, (st, repos)
            return {r["id"]: r for r in repos}

        def fire_and_wait():
            call("POST", f"{gh_url}/_fake/reset-stats")
            before_repos = repositories()
            before = call("GET", f"{gh_url}/_fake/stats")[1]["rate_limit"]["remaining"]
            t = time.time()
            st, fired = call("POST", f"{base}/_local/events/nightly-sync")
            assert st == 200, fired
            report = fired["result"]
            fanout_s = time.time() - t
            # Done when every repository's last_synced_at is past this firing (one Query per
            # poll; job lists would read every job of the project on each poll).
            while True:
                now = repositories()
                synced = [r for r in now.values() if (r["last_synced_at"] or "") >= report["fired_at"]]
                if len(synced) == len(now):
                    break
                time.sleep(0.5)
            done_s = time.time() - t
            stats = call("GET", f"{gh_url}/_fake/stats")[1]
            return {
                "report": report,
                "fanout_seconds": round(fanout_s, 2),
                "all_synced_seconds": round(done_s, 2),
                "synced": len(synced),
                "commit_changed": sorted(i for i, r in now.items()
                                         if r["last_commit_sha"] != before_repos[i]["last_commit_sha"]
                                         and before_repos[i]["last_commit_sha"] is not None),
                "github_requests": stats["requests"],
                "github_by_status": stats["by_status"],
                "rate_limit_points_spent": before - stats["rate_limit"]["remaining"],
            }

        def reported_changes(fired_at):
            time.sleep(2)  # let the pollers record the last completions
            jobs, skip = [], 0
            while True:
                st, page = call("GET", f"{base}/api/v1/jobs?job_type=repository_sync&limit=1000&skip={skip}",
                                token=token, project=pid)
                assert st == 200, (st, page)
                jobs += page["jobs"]
                skip += len(page["jobs"])
                if not page["jobs"] or skip >= page["total"]:
                    break
            mine = [j for j in jobs if j["tags"].get("fired_at") == fired_at]
            return {
                "jobs": len(mine),
                "completed": sum(1 for j in mine if j["status"] == "completed"),
                "changes_detected": sorted(j["result"]["repository_id"] for j in mine
                                           if j["status"] == "completed" and j["result"]["changes_detected"]),
            }

        if args.fanout_only:
            t = time.time()
            st, fired = call("POST", f"{base}/_local/events/nightly-sync")
            assert st == 200, fired
            print(json.dumps({"repositories": args.repos, "tracking_seconds": round(track_s, 2),
                              "fanout_seconds": round(time.time() - t, 2), "report": fired["result"]}, indent=2))
            return 0 if fired["result"]["messages_sent"] == args.repos else 1

        first = fire_and_wait()
        unchanged = fire_and_wait()
        by_name = {r["name"]: r["id"] for r in repositories().values()}
        pushed = []
        for i in range(args.changed):
            name = f"repo-{(i * 7 + 1) % args.repos}"
            call("POST", f"{gh_url}/_fake/push?repo=acme/{name}")
            pushed.append(by_name.get(name))
        changed = fire_and_wait()
        changed["jobs"] = reported_changes(changed["report"]["fired_at"])
        unchanged["jobs"] = reported_changes(unchanged["report"]["fired_at"])
        out = {
            "repositories": args.repos,
            "tracking_seconds": round(track_s, 2),
            "first": first,
            "unchanged": unchanged,
            "after_commits": changed,
            "pushed": sorted(pushed),
            "ok": (
                unchanged["synced"] == args.repos
                and unchanged["github_by_status"] == {"304": 2 * args.repos}
                and unchanged["rate_limit_points_spent"] == 0
                and unchanged["jobs"]["completed"] == args.repos
                and unchanged["jobs"]["changes_detected"] == []
                and changed["jobs"]["changes_detected"] == sorted(pushed)
                and changed["commit_changed"] == sorted(pushed)
            ),
        }
        print(json.dumps(out, indent=2))
        return 0 if out["ok"] else 1
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    sys.exit(main())
