"""moto's server with requests handled one at a time.

moto's backends are not thread-safe: under concurrent requests (our tests run in parallel, the
dev server serves several clients) it fails with "dictionary changed size during iteration".
DynamoDB itself serializes conflicting writes (and reports TransactionConflict, which the store
retries), so serializing requests here models it faithfully. Connections are still accepted
concurrently; only the backend work is behind one lock.

moto's TransactWriteItems also deep-copies every table it touches before each transaction (to roll
back on failure), which makes a transaction cost grow with everything stored: after a few
thousand items a 100-item batch import took 13 s. `_fast_transactions` keeps moto's semantics
but snapshots only the items the transaction names and restores those on failure.

Usage: python infra/local/moto_server.py HOST PORT
"""

import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

_lock = threading.Lock()


def _fast_transactions() -> None:
    import copy

    import moto.dynamodb.models as models
    from moto.dynamodb.models.table import Table

    class _NoTableCopy:
        """`copy` as moto's DynamoDB backend sees it: tables are not copied (items still are)."""

        @staticmethod
        def deepcopy(x, memo=None):
            return x if isinstance(x, Table) else copy.deepcopy(x, memo)

    models.copy = _NoTableCopy
    original = models.DynamoDBBackend.transact_write_items

    def transact_write_items(self, transact_items):
        snapshots = []
        for entry in transact_items:
            try:
                _, op = next(iter(entry.items()))
                table = self.get_table(op["TableName"])
                if "Key" in op:
                    key = op["Key"]
                else:
                    attrs = op["Item"]
                    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                    if table.range_key_attr is not None:
                        key[table.range_key_attr] = attrs[table.range_key_attr]
                current = self.get_item(op["TableName"], key)
                snapshots.append(
                    (op["TableName"], key, current.to_json()["Attributes"] if current else None)
                )
            except Exception:  # malformed entries: moto reports them itself
                continue
        try:
            return original(self, transact_items)
        except Exception:
            for table_name, key, before in reversed(snapshots):
                if before is None:
                    if self.get_item(table_name, key) is not None:
                        self.delete_item(table_name, key)
                else:
                    self.put_item(table_name, copy.deepcopy(before))
            raise

    models.DynamoDBBackend.transact_write_items = transact_write_items


def serialized(app):
    def wrapped(environ, start_response):
        with _lock:
            # Consume the body inside the lock: the backend may build it lazily.
            return list(app(environ, start_response))

    return wrapped


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    _fast_transactions()
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, serialized(app), threaded=True)


if __name__ == "__main__":
    main()
