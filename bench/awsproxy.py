"""A keep-alive HTTP proxy in front of moto for benchmarks, which can also answer from canned
responses.

moto closes every connection, so a function talking to it directly reconnects on every AWS call
and that reconnecting lands in the function's CPU time. Through this proxy the function keeps one
connection per client, as it does with AWS; the proxy pays for moto's reconnects in its own
process. It counts the AWS calls it answers.

With `replay=True` it is a canned-response stub after a first pass: every request it forwards to
moto is recorded, and a later request is answered at once, without moto, from
- the recorded answer to the same request (method, path, query, X-Amz-Target, body) — reads:
  GetItem, BatchGetItem, Query, GetSecretValue, S3 GETs, …;
- else, for an operation that writes, the last successful answer to the same operation (a
  TransactWriteItems or PutItem answer carries no data a function reads back beyond success).
A request seen for the first time goes to moto. So cold starts and wall times measure the
function, not moto's latency (moto takes 3–10 ms per call on this machine, AWS in-region
single-digit ms). The bench primes each event once before it measures.
"""
import collections
import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}

# Operations answered by operation, not by exact request, once one succeeded (JSON protocols'
# X-Amz-Target suffixes; S3 writes are keyed by method).
WRITES = {
    "PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem",
    "SendMessage", "SendMessageBatch", "DeleteMessage", "PutEvents",
}


def canonical(body: bytes) -> bytes:
    """A JSON body with object keys and lists sorted: a function builds BatchGetItem's keys from a
    hash map, whose order changes from one request to the next, and the same read must find its
    recording. (Lists whose order matters, such as a transaction's items, belong to writes, which
    are not matched by body.)"""
    def norm(v):
        if isinstance(v, dict):
            return {k: norm(x) for k, x in v.items()}
        if isinstance(v, list):
            return sorted((norm(x) for x in v), key=lambda x: json.dumps(x, sort_keys=True))
        return v
    try:
        return json.dumps(norm(json.loads(body)), sort_keys=True).encode()
    except ValueError:
        return body


class AwsProxy:
    def __init__(self, upstream: str, replay: bool = False) -> None:
        target = urlparse(upstream)
        host, port = target.hostname or "127.0.0.1", target.port or 80
        self.calls = 0
        self.forwarded = 0
        self.ops: "collections.Counter[str]" = collections.Counter()
        # DynamoDB request units, from the requests (and a Query's answer): items read (1 RRU each
        # for a strongly consistent read ≤ 4 KB, half eventually consistent) and items written
        # (1 WRU each ≤ 1 KB, 2 in a transaction). Every item here is under those sizes.
        self.units: "collections.Counter[str]" = collections.Counter()
        self.replay = replay
        exact: dict = {}
        by_op: dict = {}
        lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def _answer(self, status, headers, data):
                self.send_response(status)
                for k, v in headers:
                    if k.lower() not in HOP and k.lower() != "content-length":
                        self.send_header(k, v)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def _forward(self):
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                op = (self.headers.get("x-amz-target") or "").rsplit(".", 1)[-1]
                key = (self.command, self.path, op, canonical(body))
                op_key = (self.command, self.path.split("?", 1)[0] if not op else "", op)
                with lock:
                    proxy.calls += 1
                    proxy.ops[op or f"S3 {self.command}"] += 1
                    canned = None
                    if proxy.replay:
                        canned = exact.get(key)
                        if canned is None and (op in WRITES or (not op and self.command in ("PUT", "DELETE"))):
                            canned = by_op.get(op_key)
                if canned is not None:
                    self._count_units(op, body, canned[2])
                    self._answer(*canned)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
                conn = http.client.HTTPConnection(host, port, timeout=30)
                try:
                    conn.request(self.command, self.path, body=body or None, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                finally:
                    conn.close()
                answer = (resp.status, resp.getheaders(), data)
                self._count_units(op, body, data)
                with lock:
                    proxy.forwarded += 1
                    if 200 <= resp.status < 300:
                        exact[key] = answer
                        by_op[op_key] = answer
                self._answer(*answer)

            def _count_units(self, op, body, answer):
                if op not in ("GetItem", "BatchGetItem", "Query", "TransactWriteItems", "PutItem",
                              "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactGetItems"):
                    return
                try:
                    req = json.loads(body or b"{}")
                    res = json.loads(answer or b"{}")
                except ValueError:
                    return
                read = 1.0 if req.get("ConsistentRead") else 0.5
                rru = wru = 0.0
                if op == "GetItem":
                    rru = read
                elif op == "BatchGetItem":
                    rru = sum(len(t.get("Keys", [])) * (1.0 if t.get("ConsistentRead") else 0.5)
                              for t in req.get("RequestItems", {}).values())
                elif op == "Query":
                    rru = max(1, res.get("ScannedCount", 0)) * read
                elif op == "TransactGetItems":
                    rru = 2 * len(req.get("TransactItems", []))
                elif op == "TransactWriteItems":
                    wru = 2 * len(req.get("TransactItems", []))
                elif op == "BatchWriteItem":
                    wru = sum(len(v) for v in req.get("RequestItems", {}).values())
                else:
                    wru = 1
                with lock:
                    proxy.units["rru"] += rru
                    proxy.units["wru"] += wru

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _forward

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # a benchmarked process killed mid-connection

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
