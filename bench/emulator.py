"""A minimal AWS Lambda Runtime API (2018-06-01) for benchmarks: one function process polls
`/runtime/invocation/next`; the bench hands it one event at a time and waits for its response.

Only what a custom runtime uses is served: next, response, error, init/error. Connections are
kept alive (HTTP/1.1), as Lambda keeps the runtime client's connection.
"""
import json
import queue
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2018-06-01/runtime"


class Emulator:
    def __init__(self) -> None:
        self.events: "queue.Queue[bytes]" = queue.Queue()
        self.done: "queue.Queue[tuple[str, float, bytes]]" = queue.Queue()
        self.init_errors: list[bytes] = []
        # When the function first asked for an event: the end of its init phase.
        self.first_next: "float | None" = None
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args):  # quiet
                pass

            def _reply(self, status: int, body: bytes = b"", headers=None) -> None:
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):  # noqa: N802
                if self.path != f"{PREFIX}/invocation/next":
                    return self._reply(404, b'{"errorType":"NotFound"}')
                if emulator.first_next is None:
                    emulator.first_next = time.perf_counter()
                event = emulator.events.get()
                request_id = str(uuid.uuid4())
                deadline = int(time.time() * 1000) + 30_000
                self._reply(200, event, {
                    "Lambda-Runtime-Aws-Request-Id": request_id,
                    "Lambda-Runtime-Deadline-Ms": str(deadline),
                    "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:123456789012:function:bench",
                    "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000;Sampled=0",
                })

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.path.endswith("/response"):
                    emulator.done.put(("response", time.perf_counter(), body))
                elif self.path.endswith("/error") and "/invocation/" in self.path:
                    emulator.done.put(("error", time.perf_counter(), body))
                elif self.path == f"{PREFIX}/init/error":
                    emulator.init_errors.append(body)
                    emulator.done.put(("init_error", time.perf_counter(), body))
                else:
                    return self._reply(404, b'{"errorType":"NotFound"}')
                self._reply(202, b'{"status":"OK"}')

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # the benchmarked process was killed with a request open

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def invoke(self, event: bytes, timeout: float = 30.0) -> tuple[str, float, bytes]:
        """Queues one event; returns (kind, perf_counter at the answer, body)."""
        self.events.put(event)
        return self.done.get(timeout=timeout)

    def close(self) -> None:
        self.server.shutdown()


def status_of(kind: str, body: bytes) -> str:
    """The HTTP status an API Gateway v2 response carries, else the SQS partial-failure count."""
    if kind != "response":
        return kind
    try:
        doc = json.loads(body or b"null")
    except ValueError:
        return "?"
    if isinstance(doc, dict) and "statusCode" in doc:
        return str(doc["statusCode"])
    if isinstance(doc, dict) and "batchItemFailures" in doc:
        return f"batchItemFailures={len(doc['batchItemFailures'])}"
    if isinstance(doc, dict):
        return "report"  # a scheduled worker's summary
    return "ok"
