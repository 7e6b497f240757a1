"""The OpenAPI document describes the routes the code really serves, and allows exactly the
values the code takes."""

import json
from collections.abc import Callable
from functools import cache
from urllib.parse import urlencode

import httpx
import jsonschema_rs
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from starlette.requests import Request

from functions.orders_http.app import FIXED_ROUTES, ORDER_METHODS, ORDER_ROUTE
from functions.orders_http.http_input import (
    CURSOR_PATTERN,
    ENTITY_TAG_LIST_PATTERN,
    IDEMPOTENCY_KEY_PATTERN,
    ORDER_ID_PATTERN,
    BadRequest,
    decode_cursor,
    expected_versions,
    idempotency_key,
    order_id_from_path,
    page_query,
)
from functions.orders_http.openapi import openapi_document
from shared.domain.schemas import IDENTIFIER_PATTERN, OrderIn
from shared.runtime.ops import OPS_PATHS


async def test_document_is_openapi_3_1_covering_every_route(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"] == "3.1.0"
    served = {path: set(methods) for path, methods in FIXED_ROUTES.items()}
    served[ORDER_ROUTE] = set(ORDER_METHODS)
    served.update({path: {"GET", "HEAD"} for path in OPS_PATHS})
    documented = {
        path: {method.upper() for method in item if method != "parameters"}
        for path, item in document["paths"].items()
    }
    assert documented == served


async def test_request_schema_is_the_validating_model(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    order_in = schemas["OrderIn"]
    assert order_in["additionalProperties"] is False
    assert order_in["properties"]["items"]["maxItems"] == 100
    expected = OrderIn.model_json_schema(ref_template="#/components/schemas/{model}")
    assert order_in["required"] == expected["required"]
    body = document["paths"]["/"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/OrderIn"}


async def test_every_documented_error_is_a_problem(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    for item in document["paths"].values():
        for method, operation in item.items():
            if method == "parameters":
                continue
            if method == "head":  # no body, as the GET's status and headers
                assert set(operation["responses"]) == set(item["get"]["responses"])
                assert not any("content" in answer for answer in operation["responses"].values())
                continue
            for status, answer in operation["responses"].items():
                if int(status) >= 400:
                    assert "application/problem+json" in answer["content"], (method, status)


# Each value a client sends outside the body is taken by the server exactly when the document
# allows it: the document's schema, as a JSON Schema validator reads it (ECMA-262 patterns), is
# held to the code on values drawn on, near and far from each grammar.


@cache
def _schema(path: str, method: str, name: str) -> jsonschema_rs.Validator:
    item = json.loads(openapi_document())["paths"][path]
    for parameter in (*item.get("parameters", ()), *item[method].get("parameters", ())):
        if parameter["name"] == name:
            return jsonschema_rs.validator_for(parameter["schema"])
    raise AssertionError(f"{method} {path} has no parameter {name}")


def _taken(read: Callable[[], object]) -> bool:
    try:
        read()
    except BadRequest:
        return False
    return True


def _with_header(name: bytes, value: str) -> Request:
    headers = [(name, value.encode("latin-1"))]
    return Request({"type": "http", "method": "PUT", "path": "/", "headers": headers})


def _field_value(value: str) -> bool:
    """Whether a header can bring `value` to the server: latin-1 without CR, LF or NUL, and
    without spaces or tabs around it (HTTP/1.1 parsing strips those)."""
    return all(
        0 < ord(char) < 256 and char not in "\r\n" for char in value
    ) and value == value.strip(" \t")


TEXT = st.text(st.characters(codec="utf-8"), max_size=40)
LATIN_1 = st.text(st.characters(max_codepoint=255), max_size=40)


def _near(pattern: str, alphabet: str) -> st.SearchStrategy[str]:
    """Matches of `pattern`, strings of its own characters, and either with a few characters
    put in, taken out or replaced."""
    matches = st.from_regex(pattern, fullmatch=True)
    own = st.text(alphabet, max_size=30)
    stray = st.sampled_from(alphabet + "\x00\t\x1c\x7f\x80\x85\xa0\xff é²\u0660")

    @st.composite
    def edited(draw: st.DrawFn) -> str:
        text = draw(st.one_of(matches, own))
        for _ in range(draw(st.integers(1, 3))):
            at = draw(st.integers(0, len(text)))
            cut = draw(st.integers(0, 1))
            text = text[:at] + draw(st.one_of(st.just(""), stray)) + text[at + cut :]
        return text

    return st.one_of(matches, own, edited())


# Cheap (no server): many examples, as the grammars have corners.
EXAMPLES = settings(max_examples=400, deadline=None)


# Whitespace of every kind, which RFC 9110's OWS (spaces and tabs) is not all of.
WHITESPACE = " \t\x0b\x0c\x1c\x1f\x85\xa0"


@st.composite
def tag_lists(draw: st.DrawFn) -> str:
    """Lists of entity tags, weak or strong, of any latin-1 characters, between whitespace."""
    etagc = st.characters(max_codepoint=255, blacklist_characters="\r\n\x00")
    tags = draw(st.lists(st.tuples(st.booleans(), st.text(etagc, max_size=4)), min_size=1))
    space = st.text(WHITESPACE, max_size=2)
    text = draw(space)
    for n, (weak, body) in enumerate(tags):
        separator = draw(space) + draw(st.sampled_from(",;")) + draw(space) if n else ""
        text += separator + ("W/" if weak else "") + f'"{body}"'
    return text + draw(space)


@EXAMPLES
@given(st.one_of(_near(ENTITY_TAG_LIST_PATTERN, 'W/"*, \t019a!#~\x80\xff'), tag_lists(), LATIN_1))
def test_if_match_is_taken_exactly_when_the_document_allows_it(value: str) -> None:
    assume(_field_value(value))
    allowed = _schema("/{order_id}", "put", "If-Match").is_valid(value)
    assert allowed == _taken(lambda: expected_versions(_with_header(b"if-match", value)))


@EXAMPLES
@given(st.one_of(_near(IDEMPOTENCY_KEY_PATTERN, "a ~!"), LATIN_1, st.text("k", min_size=254)))
def test_an_idempotency_key_is_taken_exactly_when_the_document_allows_it(value: str) -> None:
    assume(_field_value(value))
    allowed = _schema("/", "post", "Idempotency-Key").is_valid(value)
    assert allowed == _taken(lambda: idempotency_key(_with_header(b"idempotency-key", value)))


@EXAMPLES
@given(st.one_of(_near(CURSOR_PATTERN, "0789afAF"), TEXT))
def test_a_cursor_is_taken_exactly_when_the_document_allows_it(value: str) -> None:
    allowed = _schema("/", "get", "cursor").is_valid(value)
    assert allowed == _taken(lambda: decode_cursor(value))


@EXAMPLES
@given(
    st.one_of(_near(IDENTIFIER_PATTERN.strip("^$"), "a0.:@-_ "), TEXT, st.text("c", min_size=63))
)
def test_a_customer_filter_is_taken_exactly_when_the_document_allows_it(value: str) -> None:
    query = urlencode({"customer_id": value}).encode()
    scope = {"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": query}
    allowed = _schema("/", "get", "customer_id").is_valid(value)
    assert allowed == _taken(lambda: page_query(Request(scope), 100))


@EXAMPLES
@given(
    st.one_of(
        st.uuids().map(str),
        st.uuids().map(lambda uuid: str(uuid).upper()),
        _near(ORDER_ID_PATTERN, "09afAF-"),
        TEXT,
    )
)
def test_an_order_id_is_taken_exactly_when_the_document_allows_it(value: str) -> None:
    allowed = _schema("/{order_id}", "get", "order_id").is_valid(value)
    assert allowed == _taken(lambda: order_id_from_path(value))
