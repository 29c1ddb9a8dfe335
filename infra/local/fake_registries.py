#!/usr/bin/env python3
"""A stand-in for the package registries of API.md §20 (npm, PyPI, Go proxy, crates.io, Maven
Central search, RubyGems, Packagist) for offline local runs: every package's latest version is
its name's major bumped by the name's length mod 4 over 1.0.0 — deterministic, so a demo shows
current, outdated and far-behind dependencies. Start it and point make dev at it:

    .venv/bin/python infra/local/fake_registries.py 8089 &
    for r in NPM PYPI GO CRATES MAVEN RUBYGEMS PACKAGIST; do export REGISTRY_${r}_URL=http://127.0.0.1:8089; done
    make dev
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse


def latest(name: str) -> str:
    return f"{1 + len(name) % 4}.{len(name) % 7}.0"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        url = urlparse(self.path)
        path = unquote(url.path)
        body = None
        if path.startswith("/pypi/") and path.endswith("/json"):
            body = {"info": {"version": latest(path[6:-5])}}
        elif path.startswith("/api/v1/crates/"):
            body = {"crate": {"max_version": latest(path[15:])}}
        elif path.startswith("/api/v1/gems/") and path.endswith(".json"):
            body = {"version": latest(path[13:-5])}
        elif path.startswith("/p2/") and path.endswith(".json"):
            name = path[4:-5]
            body = {"packages": {name: [{"version": "dev-main"}, {"version": latest(name)}]}}
        elif path == "/solrsearch/select":
            q = parse_qs(url.query).get("q", [""])[0]
            body = {"response": {"docs": [{"latestVersion": latest(q)}]}}
        elif path.endswith("/@latest"):
            body = {"Version": "v" + latest(path[1:-8])}
        elif path.endswith("/latest"):
            body = {"version": latest(path[1:-7])}
        data = json.dumps(body).encode()
        self.send_response(200 if body is not None else 404)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8089
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
