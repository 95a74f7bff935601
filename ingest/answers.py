"""Every error of an event the schema refused, worded for the person fixing the client.

msgspec stops at an event's first error (which keeps the hot path fast). When it does, this slow
path looks at the event field by field: each field is decoded alone against its declared type (the
same decoder, so the same rules), unknown names get a "did you mean" (difflib, from the standard
library: close enough for field names, nothing to install), and a wrong enum value lists the valid
ones. Values are echoed only in short: an over-long id or value never comes back in full.
"""
from __future__ import annotations

import difflib
import re
import types
import typing
from functools import lru_cache
from typing import Any

import msgspec

from ingest.schema import CallEvent, FeedbackEvent, ScoreEvent, SpanEvent

EVENT_TYPES: dict[str, type[msgspec.Struct]] = {
    cls.__struct_config__.tag: cls  # type: ignore[misc]
    for cls in (CallEvent, SpanEvent, FeedbackEvent, ScoreEvent)
}
TAG_FIELD = "type"
ECHO_CHARS = 40  # at most this much of a value the client sent comes back in an answer
_PATH = re.compile(r" - at `\$\.?(.*)`$")
_UNIONS = (typing.Union, types.UnionType)  # Optional[X] and X | None
_MAX_ERRORS = 50  # per event: enough to fix it, bounded for an event with thousands of bad keys


def short(value: Any) -> str:
    """`value` as the answer may echo it: long text is cut, and says how long it was."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) <= ECHO_CHARS:
        return text
    return f"{text[:ECHO_CHARS]}… ({len(text)} characters)"


def _literals(annotation: Any) -> tuple[Any, ...]:
    """The values of the Literal in `annotation` (through Optional, Union and Annotated), if any."""
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return typing.get_args(annotation)
    if origin in _UNIONS or origin is typing.Annotated:
        for arg in typing.get_args(annotation):
            found = _literals(arg)
            if found:
                return found
    return ()


def _struct(annotation: Any) -> type[msgspec.Struct] | None:
    """The Struct a field holds when its value is an object (usage, prompt, error), if any."""
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        return annotation
    if typing.get_origin(annotation) in _UNIONS:
        for arg in typing.get_args(annotation):
            found = _struct(arg)
            if found is not None:
                return found
    return None


@lru_cache(maxsize=None)
def _decoder(annotation: Any) -> msgspec.json.Decoder:
    return msgspec.json.Decoder(annotation)


def _fields(cls: type[msgspec.Struct]) -> dict[str, msgspec.structs.FieldInfo]:
    return {f.encode_name: f for f in msgspec.structs.fields(cls)}


def _suggest(name: str, choices: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.7)
    return f"; did you mean `{close[0]}`?" if close else ""


def _field_error(path: str, annotation: Any, value: Any) -> tuple[str, str] | None:
    try:
        _decoder(annotation).decode(msgspec.json.encode(value))
    except msgspec.ValidationError as exc:
        text = str(exc)
        match = _PATH.search(text)
        rest = match.group(1) if match else ""
        where = path + ("" if not rest or rest.startswith("[") else ".") + rest
        message = text[: match.start()] if match else text
        allowed = _literals(annotation)
        if allowed and message.startswith("Invalid enum value"):
            message = f"{short(value)!r} is not allowed; valid values: {', '.join(map(str, allowed))}"
        return where, message
    return None


def _object_errors(cls: type[msgspec.Struct], obj: dict[str, Any], prefix: str, kind: str) -> list[tuple[str, str]]:
    fields = _fields(cls)
    errors: list[tuple[str, str]] = []
    for key, value in obj.items():
        path = f"{prefix}{key}"
        if not prefix and key == TAG_FIELD:
            continue
        info = fields.get(key)
        if info is None:
            errors.append((short(path), f"is not a field of {kind}{_suggest(key, fields)}"))
            continue
        if info.type is msgspec.Raw:  # input, output, context: any JSON
            continue
        nested = _struct(info.type)
        if nested is not None and isinstance(value, dict):
            errors += _object_errors(nested, value, f"{path}.", f"`{key}`")
            continue
        error = _field_error(path, info.type, value)
        if error:
            errors.append(error)
    errors += [(f"{prefix}{name}", "is required") for name, info in fields.items()
               if info.required and name not in obj]
    return errors


def event_errors(data: bytes) -> list[tuple[str, str]] | None:
    """(field, message) for each problem of an event the schema refused, or None when this path
    cannot say more than the decoder did (not an object, not JSON)."""
    try:
        obj = msgspec.json.decode(data)
    except (msgspec.DecodeError, RecursionError):
        return None
    if not isinstance(obj, dict):
        return [("$", "an event must be a JSON object")]
    tag = obj.get(TAG_FIELD)
    cls = EVENT_TYPES.get(tag) if isinstance(tag, str) else None
    if cls is None:
        valid = ", ".join(EVENT_TYPES)
        if tag is None:
            return [(TAG_FIELD, f"is required; valid values: {valid}")]
        suggestion = _suggest(tag, EVENT_TYPES) if isinstance(tag, str) else ""
        return [(TAG_FIELD, f"{short(tag)!r} is not an event type; valid values: {valid}{suggestion}")]
    return _object_errors(cls, obj, "", f"a `{tag}` event")[:_MAX_ERRORS] or None
