"""UUIDv7 as RFC 9562 lays it out: the time first, version 7, the RFC's variant, and ids that
sort in the order they were made."""

import time
import uuid

import pytest

from shared.domain import ids
from shared.domain.ids import unix_ms_of, uuid7


def test_a_uuid7_has_version_7_the_rfc_variant_and_the_time_first() -> None:
    before = time.time_ns() // 1_000_000
    made = uuid7()
    after = time.time_ns() // 1_000_000
    assert made.version == 7
    assert made.variant == uuid.RFC_4122
    assert (made.int >> 76) & 0xF == 7
    assert (made.int >> 62) & 0b11 == 0b10
    assert before <= unix_ms_of(made) <= after
    assert unix_ms_of(made) == int(made.hex[:12], 16)
    # As the API and events write it: a UUID like any other, 36 characters, lower case.
    assert str(uuid.UUID(str(made))) == str(made)
    assert len(str(made)) == 36


def test_ids_made_one_after_another_sort_in_that_order_and_are_unique() -> None:
    made = [uuid7() for _ in range(50_000)]  # many within each millisecond
    assert made == sorted(made)
    assert [str(u) for u in made] == sorted(str(u) for u in made)  # as text too
    assert len(set(made)) == len(made)


def test_ids_keep_increasing_when_the_clock_steps_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ids, "_last_ms", ids._last_ms)
    first = uuid7()
    monkeypatch.setattr(
        "shared.domain.ids.time.time_ns", lambda: (unix_ms_of(first) - 5_000) * 1_000_000
    )
    later = [uuid7() for _ in range(100)]
    assert [first, *later] == sorted([first, *later])
    assert all(u.version == 7 for u in later)


def test_a_full_millisecond_carries_into_the_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """When the random bits of a millisecond run out, the next id takes the next millisecond."""
    now_ms = time.time_ns() // 1_000_000 + 60_000
    monkeypatch.setattr("shared.domain.ids.time.time_ns", lambda: now_ms * 1_000_000)
    # The last id's time and bits, restored afterwards: ids made later must not stay in the
    # future this test visits.
    monkeypatch.setattr(ids, "_last_ms", ids._last_ms)
    first = uuid7()
    monkeypatch.setattr(ids, "_last_random", (1 << 74) - 1)
    carried = uuid7()
    assert unix_ms_of(carried) == unix_ms_of(first) + 1
    assert carried > first
    assert carried.version == 7
    assert carried.variant == uuid.RFC_4122


def test_an_id_at_a_given_time_carries_that_time() -> None:
    at = 1_700_000_000_123
    made = uuid7(at)
    assert unix_ms_of(made) == at
    assert made.version == 7
    assert made.variant == uuid.RFC_4122
    assert uuid7(at) != made  # fresh random bits
    assert uuid7(at - 1) < made < uuid7(at + 1)
