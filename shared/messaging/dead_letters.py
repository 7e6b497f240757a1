"""A dead letter: the refused record as the KafkaSource read it, plus Knative's error
extensions: `knativeerrordest` (where it failed), `knativeerrorcode` (the status; -1 locally
when nothing answered) and `knativeerrordata` (the answer's body, base64, at most 1 KiB: for
our functions, a problem+json whose `detail` says why); and the record that replays it.

Replaying puts the original event back on the topic its type names (`shared/domain/events.py`),
with its id, attributes, data and key (the order id) as they were and the `knative*`
extensions dropped, so it goes the normal way again: KafkaSource, function, retries, dead
letter. It is safe to repeat: the steps are conditional updates, so an event whose order
already moved (or is gone) is a duplicate (or obsolete) and changes nothing. What cannot be
replayed as one of the orders' events (no CloudEvent, a type or source not of the contract) is
refused, and then nothing at all is replayed.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from shared.domain.events import SOURCES, TOPICS, EventType
from shared.messaging.kafka import Message

# Every extension Knative adds on the way (knativeerrordest, -code, -data; a broker's
# knativearrivaltime): none is part of the event its producer wrote.
KNATIVE_PREFIX = "ce_knative"


class DeadLetterError(Exception):
    """Something the operator must hear about; nothing was changed."""


@dataclass(frozen=True)
class DeadLetter:
    """One record of the dead-letter topic, as read."""

    partition: int
    offset: int
    key: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    value: bytes

    @property
    def where(self) -> str:
        return f"{self.partition}:{self.offset}"

    def attributes(self) -> dict[str, str]:
        """The CloudEvent attributes (the `ce_` headers, prefix dropped), as text."""
        return {
            name[3:]: value.decode("utf-8", "replace")
            for name, value in self.headers
            if name.startswith("ce_")
        }

    @property
    def event_id(self) -> str | None:
        return self.attributes().get("id")


def replay_message(letter: DeadLetter) -> Message:
    """The record that puts the original event back on its topic, or a DeadLetterError saying
    why this dead letter is not one of the orders' events."""
    try:
        headers = [(name, value.decode("utf-8")) for name, value in letter.headers]
    except UnicodeDecodeError:
        raise DeadLetterError("a header is not UTF-8: not an event of the contract") from None
    attributes = {name[3:]: value for name, value in headers if name.startswith("ce_")}
    if attributes.get("specversion") != "1.0":
        raise DeadLetterError("not a CloudEvent 1.0 in binary mode (no ce_specversion 1.0 header)")
    event_id, kind, subject = (attributes.get(a) for a in ("id", "type", "subject"))
    if not event_id:
        raise DeadLetterError("the event has no id")
    try:
        event_type = EventType(kind or "")
    except ValueError:
        raise DeadLetterError(
            f"type {kind!r} is not one of the orders' events, so it has no topic to go back to"
        ) from None
    if attributes.get("source") != SOURCES[event_type]:
        raise DeadLetterError(
            f"{event_type} comes from {SOURCES[event_type]}, not {attributes.get('source')!r}:"
            " a foreign event, which the steps refuse"
        )
    if not subject:
        raise DeadLetterError("the event has no subject (its order id, the record's key)")
    kept = [
        (name, value)
        for name, value in letter.headers
        if not name.lower().startswith(KNATIVE_PREFIX)
    ]
    # The key is the order id, as the publisher writes it (`shared/messaging/event_records.py`);
    # a dead letter carries it only if its sink kept the record's key.
    return Message(TOPICS[event_type], subject.encode(), letter.value, kept)


def choose(
    letters: Sequence[DeadLetter], event_ids: Iterable[str], everything: bool, topic: str
) -> list[tuple[DeadLetter, Message]]:
    """The dead letters to replay, each with its record: those of `event_ids` (the latest
    letter of each, should one have been refused twice), or with `everything` one per id.
    Raises DeadLetterError, naming each problem, if any id is unknown or any chosen letter
    cannot be replayed."""
    latest: dict[str, DeadLetter] = {}
    unnamed: list[DeadLetter] = []
    for letter in sorted(letters, key=lambda one: (one.partition, one.offset)):
        if letter.event_id:
            latest[letter.event_id] = letter
        else:
            unnamed.append(letter)
    problems: list[str] = []
    if everything:
        chosen = list(latest.values())
        problems += [f"{letter.where}: the record has no event id" for letter in unnamed]
    else:
        wanted = list(dict.fromkeys(event_ids))
        chosen = [latest[i] for i in wanted if i in latest]
        problems += [
            f"{i}: no dead letter has this id on {topic}" for i in wanted if i not in latest
        ]
    replays = []
    for letter in chosen:
        try:
            replays.append((letter, replay_message(letter)))
        except DeadLetterError as exc:
            problems.append(f"{letter.event_id} ({letter.where}): {exc}")
    if problems:
        raise DeadLetterError(
            "nothing replayed:\n" + "\n".join(f"  {problem}" for problem in problems)
        )
    return replays
