"""A request's whole body, read up to a limit."""

from starlette.requests import ClientDisconnect, Request


async def read_body(request: Request, limit: int) -> bytes | None:
    """The whole body, or None when it is longer than `limit` bytes."""
    declared = request.headers.get("content-length", "")
    # More digits than the limit has is more bytes than it allows; int() of thousands raises.
    if (
        declared.isascii()
        and declared.isdigit()
        and (len(declared.lstrip("0")) > len(str(limit)) or int(declared) > limit)
    ):
        return None
    # The ASGI messages themselves: Request.stream() is an async generator, 4 µs a request.
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
