import pytest
from starlette.requests import Request

from functions.orders_http.http_input import (
    BadRequest,
    decode_cursor,
    encode_cursor,
    expected_versions,
)


def _request(if_match: str | None) -> Request:
    headers = [(b"if-match", if_match.encode())] if if_match is not None else []
    return Request({"type": "http", "method": "PUT", "path": "/", "headers": headers})


@pytest.mark.parametrize("seq", [0, 1, 42, 2**62, 2**63 - 1])
def test_cursor_round_trips(seq: int) -> None:
    cursor = encode_cursor(seq)
    assert cursor != str(seq)  # opaque to clients
    assert decode_cursor(cursor) == seq


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "x",
        "YWZ0ZXI6MQ",  # the base64 of `after:1` an earlier version gave out
        "8000000000000000",  # 2^63: past a bigint
        "ffffffffffffffff",
        "000000000000002A",  # upper case
        "000000000000001",  # 15 digits
        "00000000000000001",  # 17
        "0x0000000000000a",
        "000000000000001\n",
        "\uff10" * 16,  # fullwidth zeros
    ],
)
def test_foreign_cursors_are_refused(cursor: str) -> None:
    with pytest.raises(BadRequest) as refused:
        decode_cursor(cursor)
    assert refused.value.response.status_code == 400


@pytest.mark.parametrize(
    ("header", "versions"),
    [
        (None, None),
        ("*", None),
        ('"3"', [3]),
        ('W/"3"', []),
        ('W/"3", "4"', [4]),
        ('"1,2"', []),
        ('"03"', []),
        (f'"{2**31 - 1}", "{2**31}"', [2**31 - 1]),
        ('"1", "2"', [1, 2]),
        ('"nope"', []),
        ('"²"', []),
    ],
)
def test_if_match(header: str | None, versions: list[int] | None) -> None:
    assert expected_versions(_request(header)) == versions


@pytest.mark.parametrize("header", ["nope", "3", '"3', '"1" "2"', ""])
def test_malformed_if_match_is_refused(header: str) -> None:
    with pytest.raises(BadRequest) as refused:
        expected_versions(_request(header))
    assert refused.value.response.status_code == 400
