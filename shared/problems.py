"""RFC 9457 problem details: every error any function answers has this shape."""

from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from starlette.responses import Response

PROBLEM_MEDIA_TYPE = "application/problem+json"
_TYPE_BASE = "urn:orders:problem:"


def service_unavailable(slug: str, detail: str, retry_after_seconds: int) -> Response:
    """503 with `Retry-After`: the caller should come back, nothing was changed."""
    headers = {"Retry-After": str(retry_after_seconds)}
    return problem(503, slug, "Service Unavailable", detail, headers=headers)


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    errors: Iterable[Mapping[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": _TYPE_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = list(errors)
    return Response(
        orjson.dumps(body), status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE
    )
