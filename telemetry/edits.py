"""Clients' corrections to the scores and feedback they sent: change or delete one by its id.

The rollups follow by themselves: triggers on both tables (rollups migration 0010) queue every
change to what is rolled up, and the signal fold moves the old value out and the new one in
(rollups/signals.py). These functions only ask for a processing run so that fold happens within
seconds rather than at beat's next sweep.
"""
from __future__ import annotations

import logging
import re
from typing import Annotated, Any, Literal

import msgspec
from django.db import transaction
from msgspec import UNSET, Meta, UnsetType

from ingest import limits
from rollups.signals import EVALUATOR_SCORE_PREFIX
from telemetry.models import Feedback, Score

log = logging.getLogger(__name__)
Signal = Score | Feedback

Label = Annotated[str, Meta(max_length=limits.MAX_DIMENSION)]
Comment = Annotated[str, Meta(max_length=limits.MAX_COMMENT)]


class _Changes(msgspec.Struct, forbid_unknown_fields=True):
    """A PATCH body: a field left out keeps its value (UNSET), null clears it."""


class ScoreChanges(_Changes):
    # The same bounds as a `score` event at ingest (ingest/schema.py).
    value: Annotated[float, Meta(ge=-1e12, le=1e12)] | None | UnsetType = UNSET
    label: Label | None | UnsetType = UNSET
    comment: Comment | None | UnsetType = UNSET
    metadata: dict[str, Any] | None | UnsetType = UNSET


class FeedbackChanges(_Changes):
    thumbs: Literal["up", "down"] | None | UnsetType = UNSET
    rating: Annotated[int, Meta(ge=1, le=5)] | None | UnsetType = UNSET
    comment: Comment | None | UnsetType = UNSET


class EditError(Exception):
    """Why an edit was refused; `field` names the field at fault, if one is."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFound(EditError):
    pass


class ReadOnly(EditError):
    pass


class Invalid(EditError):
    pass


def changes_parse(body: bytes, kind: type[_Changes]) -> _Changes:
    """Decode a PATCH body, or raise Invalid naming the field, as ingest reports an event's errors."""
    try:
        changes = msgspec.json.decode(body or b"{}", type=kind)
    except msgspec.ValidationError as exc:
        message, _, path = str(exc).partition(" - at `$.")
        unknown = re.search(r"unknown field `([^`]+)`", message)
        if unknown:
            raise Invalid(f"cannot be changed; send any of {', '.join(kind.__struct_fields__)}",
                          unknown.group(1)) from None
        raise Invalid(message, path.rstrip("`") or None) from None
    except msgspec.DecodeError as exc:
        raise Invalid(f"The body is not valid JSON: {exc}.") from None
    for name in changes.__struct_fields__:
        if _has_nul(getattr(changes, name)):
            raise Invalid("contains a NUL character (\\u0000), which cannot be stored; remove it", name)
    metadata = getattr(changes, "metadata", None)
    if isinstance(metadata, dict) and len(msgspec.json.encode(metadata)) > limits.MAX_METADATA_BYTES:
        raise Invalid(f"is larger than {limits.MAX_METADATA_BYTES} bytes of JSON "
                      "(OBSERVATORY_INGEST_MAX_METADATA_BYTES)", "metadata")
    return changes


def _has_nul(value: Any) -> bool:
    # PostgreSQL stores NUL neither in text nor in jsonb.
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _locked(model: type[Signal], project_id: int, external_id: str) -> Any:
    row = model.objects.select_for_update().filter(project_id=project_id, external_id=external_id).first()
    if row is None:
        what = "score" if model is Score else "feedback"
        raise NotFound(f"No {what} with id '{external_id}' in this project.")
    if model is Score and external_id.startswith(EVALUATOR_SCORE_PREFIX):
        raise ReadOnly(f"Score '{external_id}' was written by Observatory's evaluators, which rewrite it when "
                       "they evaluate the call again; only scores you sent can be changed or deleted.")
    return row


def _fold_soon(project_id: int) -> None:
    from observatory.breaker import CircuitOpen
    from telemetry.services import processing_request

    # Committed already: without a broker, beat's sweep of queued signals folds it a little later.
    try:
        processing_request(project_id=project_id)
    except CircuitOpen:
        pass  # the broker failed moments ago; the failure was logged then
    except Exception:  # noqa: BLE001 - the edit stands; only its fold waits
        log.warning("could not ask for a fold of project %s's edited signals; beat will", project_id, exc_info=True)


# Columns that hold no NULL: clearing them stores their empty value.
_EMPTY: dict[str, type] = {"label": str, "comment": str, "metadata": dict}


def _changed(changes: _Changes) -> dict[str, Any]:
    fields = {name: getattr(changes, name) for name in changes.__struct_fields__
              if getattr(changes, name) is not UNSET}
    return {name: _EMPTY[name]() if value is None and name in _EMPTY else value for name, value in fields.items()}


# What an edit must leave: one of these fields set (the ingest rule for each kind), and why.
_NEEDS: dict[type[Signal], tuple[tuple[str, str], str]] = {
    Score: (("value", "label"), "a score needs a numeric value, a label, or both"),
    Feedback: (("thumbs", "rating"), "feedback needs thumbs ('up' or 'down') or a rating (1-5)"),
}


def _update(model: type[Signal], project_id: int, external_id: str, fields: dict[str, Any]) -> Any:
    (first, second), needs = _NEEDS[model]
    with transaction.atomic():
        row = _locked(model, project_id, external_id)
        for name, value in fields.items():
            setattr(row, name, value)
        if getattr(row, first) in (None, "") and getattr(row, second) in (None, ""):
            raise Invalid(needs, first)
        if fields:
            row.save(update_fields=list(fields))
            transaction.on_commit(lambda: _fold_soon(project_id))
    return row


def _delete(model: type[Signal], project_id: int, external_id: str) -> None:
    with transaction.atomic():
        row = _locked(model, project_id, external_id)
        model.objects.filter(pk=row.pk).delete()
        transaction.on_commit(lambda: _fold_soon(project_id))


def score_update(*, project_id: int, external_id: str, changes: ScoreChanges) -> Score:
    """Change a score's value, label, comment or metadata (metadata is replaced, not merged)."""
    return _update(Score, project_id, external_id, _changed(changes))


def score_delete(*, project_id: int, external_id: str) -> None:
    _delete(Score, project_id, external_id)


def feedback_update(*, project_id: int, external_id: str, changes: FeedbackChanges) -> Feedback:
    fields = _changed(changes)
    if fields.get("thumbs") is not None:
        fields["thumbs"] = 1 if fields["thumbs"] == "up" else -1
    return _update(Feedback, project_id, external_id, fields)


def feedback_delete(*, project_id: int, external_id: str) -> None:
    _delete(Feedback, project_id, external_id)
