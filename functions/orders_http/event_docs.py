"""`GET /docs/events`: the AsyncAPI document as a page to read, one section per topic."""

from functools import cache
from html import escape
from typing import Any

import orjson

from functions.orders_http.asyncapi import asyncapi_document

STYLE = """body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.2rem .5rem;
text-align:left;vertical-align:top}code,pre{font:13px ui-monospace,monospace}pre{background:#f6f6f6;
padding:.5rem;overflow:auto}"""


def _resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def _rule(schema: dict[str, Any]) -> str:
    if "const" in schema:
        return f"<code>{escape(str(schema['const']))}</code>"
    text = escape(" ".join(word for word in (schema.get("type"), schema.get("format")) if word))
    if "pattern" in schema:
        text += f" matching <code>{escape(schema['pattern'])}</code>"
    return text


def _headers(schema: dict[str, Any]) -> str:
    required = set(schema.get("required", ()))
    rows = "".join(
        f"<tr><td><code>{escape(name)}</code></td><td>{'yes' if name in required else 'no'}</td>"
        f"<td>{_rule(rule)}</td><td>{escape(rule.get('description', ''))}</td></tr>"
        for name, rule in schema.get("properties", {}).items()
    )
    return (
        "<table><tr><th>Kafka header</th><th>required</th><th>value</th><th></th></tr>"
        f"{rows}</table>"
    )


def _message(document: dict[str, Any], node: dict[str, Any]) -> str:
    message = _resolve(document, node)
    key = message.get("bindings", {}).get("kafka", {}).get("key", {})
    payload = message.get("payload", {})
    what = payload["$ref"].rsplit("/", 1)[-1] if "$ref" in payload else "see below"
    title, name = escape(message.get("title", "")), escape(message.get("name", ""))
    return (
        f"<h3>{title} <code>{name}</code></h3>"
        f"<p>{escape(message.get('summary', ''))}</p>{_headers(message.get('headers', {}))}"
        f"<p>Key: {escape(key.get('description', ''))}. Value: <code>{escape(what)}</code>"
        f"{' (' + escape(payload['description']) + ')' if 'description' in payload else ''}.</p>"
    )


@cache
def event_docs_html() -> str:
    document: dict[str, Any] = orjson.loads(asyncapi_document())
    info = document["info"]
    sections = "".join(
        f'<section><h2 id="{escape(channel["address"])}">Topic '
        f"<code>{escape(channel['address'])}</code></h2>"
        f"<p>{escape(channel.get('description', ''))}</p>"
        + "".join(_message(document, node) for node in channel["messages"].values())
        + "</section>"
        for channel in document["channels"].values()
    )
    schemas = "".join(
        f'<h3 id="{escape(name)}"><code>{escape(name)}</code></h3>'
        f"<pre>{escape(orjson.dumps(schema, option=orjson.OPT_INDENT_2).decode())}</pre>"
        for name, schema in document.get("components", {}).get("schemas", {}).items()
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>orders: events</title><style>{STYLE}</style></head><body>"
        f"<h1>{escape(info['title'])} {escape(info['version'])}: events</h1>"
        f"<p>{escape(info.get('description', ''))}</p>"
        '<p>The machine-readable contract: <a href="../asyncapi.json">asyncapi.json</a>'
        ' (AsyncAPI 3.0). The HTTP API: <a href="../docs">docs</a>.</p>'
        f"{sections}<h2>Payload schemas</h2>{schemas}</body></html>"
    )
