"""`GET /docs`: Swagger UI for the OpenAPI document, its assets served from the swagger-ui-py
package (no CDN: the page works on a cluster without internet)."""

from functools import cache
from importlib.resources import files

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui-standalone-preset.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}
# Everything from this origin; Swagger UI sets inline styles and shows data: images.
POLICY = (
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "frame-ancestors 'none'"
)
PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>orders: HTTP API</title>
<link rel="stylesheet" href="docs/static/swagger-ui.css">
<link rel="icon" type="image/png" href="docs/static/favicon-32x32.png">
</head>
<body>
<p>The events: <a href="docs/events">their contract, to read</a>
(<a href="asyncapi.json">asyncapi.json</a>).</p>
<div id="swagger-ui"></div>
<script src="docs/static/swagger-ui-bundle.js"></script>
<script src="docs/static/swagger-ui-standalone-preset.js"></script>
<script src="docs/static/init.js"></script>
</body>
</html>
"""
# Relative addresses: the page works under any path prefix the service is mounted at.
INIT = b"""window.ui = SwaggerUIBundle({
  url: "openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
  layout: "StandaloneLayout",
});
"""
HEADERS = {"Content-Security-Policy": POLICY, "X-Content-Type-Options": "nosniff"}
STATIC = "/docs/static/"


def docs_page() -> Response:
    return HTMLResponse(PAGE, headers=HEADERS)


@cache
def _asset(name: str) -> bytes:
    if name == "init.js":
        return INIT
    return files("swagger_ui").joinpath("static", name).read_bytes()


def docs_asset(request: Request) -> Response | None:
    """The named asset, or None for a name that is not one."""
    name = request.url.path.removeprefix(STATIC)
    media_type = "text/javascript" if name == "init.js" else ASSETS.get(name)
    if media_type is None:
        return None
    headers = {**HEADERS, "Cache-Control": "public, max-age=86400"}
    return Response(_asset(name), media_type=media_type, headers=headers)
