#!/usr/bin/env python3
"""moto server for the tests, with DynamoDB's atomicity: `moto-server.py -H 127.0.0.1 -p PORT`.

DynamoDB applies a conditional write atomically: of many concurrent `UpdateItem`s with the
same condition, one succeeds and the others get ConditionalCheckFailedException. moto's server
is threaded and its DynamoDB backend checks the condition and writes without a lock, so two
concurrent conditional writes can both succeed, which real DynamoDB never does. The shared
suppression table relies on that guarantee (one instance sends per window), and its tests send
concurrent claims, so this wrapper processes one request at a time (connections are still
accepted concurrently). Everything else is moto's own `moto_server` (moto.server.main).
"""

import threading

from moto import server
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

_one_at_a_time = threading.Lock()
_dispatch = DomainDispatcherApplication.__call__


def _serialized(self, environ, start_response):
    with _one_at_a_time:
        # moto builds each response whole, so the request is processed inside the lock.
        return list(_dispatch(self, environ, start_response))


DomainDispatcherApplication.__call__ = _serialized

if __name__ == "__main__":
    server.main()
