"""Delivering to a sink over HTTP, as the local eventing does: the connector (the KafkaSource's
and the PingSource's), which answers a KafkaSource retries, and a connection lost under a
request (which is no failure of the function)."""

import aiohttp

RETRYABLE = frozenset({404, 408, 409, 429})


def local_connector(
    limit: int = 100, *, force_close: bool = False, keepalive_timeout: float | None = None
) -> aiohttp.TCPConnector:
    """The sinks are local addresses: the threaded resolver spares aiodns's channel and thread."""
    if force_close:
        return aiohttp.TCPConnector(
            limit=limit, resolver=aiohttp.ThreadedResolver(), force_close=True
        )
    return aiohttp.TCPConnector(
        limit=limit,
        resolver=aiohttp.ThreadedResolver(),
        keepalive_timeout=15.0 if keepalive_timeout is None else keepalive_timeout,
    )


def lost_to_a_closed_connection(exc: BaseException) -> bool:
    """The connection went away under a request, before any answer: not a refused connect
    (the function is down) and not a timeout (the function is slow)."""
    return isinstance(exc, aiohttp.ClientConnectionError) and not isinstance(
        exc, aiohttp.ClientConnectorError | aiohttp.ServerTimeoutError
    )


def is_retryable(status: int | None) -> bool:
    return status is None or status >= 500 or status in RETRYABLE
