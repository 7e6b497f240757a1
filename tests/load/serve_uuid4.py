"""`orders serve` with UUIDv4 ids where the service makes UUIDv7: the other side of
`make bench-scale --ids uuid4`. The order and event modules take `uuid7` from
`shared.domain.ids` when they are imported, so it is replaced before anything imports them.

    python -m tests.load.serve_uuid4 orders_http
"""

import sys
import uuid

from shared.domain import ids


def _uuid4(unix_ms: int | None = None) -> uuid.UUID:
    return uuid.uuid4()


ids.uuid7 = _uuid4

if __name__ == "__main__":
    from shared.cli import main

    sys.exit(main(["serve", *sys.argv[1:]]))
