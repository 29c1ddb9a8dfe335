"""moto's server with requests handled one at a time.

moto's backends are not thread-safe: under concurrent requests (our tests run in parallel, the
dev server serves several clients) it fails with "dictionary changed size during iteration".
DynamoDB itself serializes conflicting writes (and reports TransactionConflict, which the store
retries), so serializing requests here models it faithfully. Connections are still accepted
concurrently; only the backend work is behind one lock.

Usage: python infra/local/moto_server.py HOST PORT
"""

import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

_lock = threading.Lock()


def serialized(app):
    def wrapped(environ, start_response):
        with _lock:
            # Consume the body inside the lock: the backend may build it lazily.
            return list(app(environ, start_response))

    return wrapped


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, serialized(app), threaded=True)


if __name__ == "__main__":
    main()
