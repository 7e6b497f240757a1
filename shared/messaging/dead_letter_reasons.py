"""Why a dead letter was refused, read from Knative's error extensions, as `orders dlq list`
shows it: one line, or one JSON object."""

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import orjson

from shared.messaging.dead_letters import DeadLetter, DeadLetterError, replay_message

REASON_WIDTH = 300


@dataclass(frozen=True)
class Refusal:
    """Why a dead letter is there, from Knative's error extensions."""

    destination: str | None
    status: int | None
    reason: str
    # The destination's answer: the parsed problem+json, or its text.
    answer: Any


def refusal(letter: DeadLetter) -> Refusal:
    attributes = letter.attributes()
    code = attributes.get("knativeerrorcode")
    try:
        status = int(code) if code is not None else None
    except ValueError:
        status = None
    reason, answer = _reason(attributes.get("knativeerrordata"))
    if status == -1 and answer is None:
        reason = f"no answer ({reason})"
    return Refusal(attributes.get("knativeerrordest"), status, reason, answer)


def _reason(data: str | None) -> tuple[str, Any]:
    if data is None:
        return "no knativeerrordata: the reason is unknown", None
    try:
        body = base64.b64decode(data, validate=True)
    except binascii.Error:
        return f"knativeerrordata is not base64: {data[:80]!r}", None
    if not body:
        return "the destination answered with an empty body", None
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = " ".join(body.decode("utf-8", "replace").split())
        return text, None
    if isinstance(answer, dict):
        detail = answer.get("detail") or answer.get("title")
        if isinstance(detail, str) and detail:
            return detail, answer
    return body.decode("utf-8", "replace"), answer


def describe(letter: DeadLetter) -> dict[str, Any]:
    """A dead letter as one JSON object (`orders dlq list --json`)."""
    attributes = letter.attributes()
    why = refusal(letter)
    entry: dict[str, Any] = {
        "partition": letter.partition,
        "offset": letter.offset,
        "key": letter.key.decode("utf-8", "replace") if letter.key is not None else None,
        "id": attributes.get("id"),
        "type": attributes.get("type"),
        "source": attributes.get("source"),
        "subject": attributes.get("subject"),
        "time": attributes.get("time"),
        "destination": why.destination,
        "status": why.status,
        "reason": why.reason,
        "answer": why.answer,
    }
    try:
        replay_message(letter)
    except DeadLetterError as exc:
        entry["replayable"] = False
        entry["not_replayable_because"] = str(exc)
    else:
        entry["replayable"] = True
    return entry


def line(letter: DeadLetter) -> str:
    """A dead letter as one line (`orders dlq list`)."""
    entry = describe(letter)
    reason = entry["reason"]
    if len(reason) > REASON_WIDTH:
        reason = reason[: REASON_WIDTH - 3] + "..."
    fields = [
        f"{letter.where}",
        f"id={entry['id'] or '-'}",
        f"type={entry['type'] or '-'}",
        f"subject={entry['subject'] or '-'}",
        f"time={entry['time'] or '-'}",
        f"status={entry['status'] if entry['status'] is not None else '-'}",
        f"at={entry['destination'] or '-'}",
        f"reason={orjson.dumps(reason).decode()}",
    ]
    if not entry["replayable"]:
        fields.append(f"not-replayable={orjson.dumps(entry['not_replayable_because']).decode()}")
    return "  ".join(fields)
