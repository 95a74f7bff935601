"""ingest/openapi.py describes exactly the fields ingest/schema.py (msgspec) validates."""
from __future__ import annotations

import msgspec
import pytest

from ingest import openapi, schema


@pytest.mark.parametrize("event_type, struct", [
    ("call", schema.CallEvent), ("feedback", schema.FeedbackEvent), ("score", schema.ScoreEvent),
])
def test_every_field_msgspec_knows_is_documented_and_nothing_else(event_type: str, struct: type) -> None:
    documented = openapi.EVENT_TYPES[event_type]
    fields = msgspec.structs.fields(struct)
    assert set(documented["properties"]) == {"type", *(f.encode_name for f in fields)}
    assert set(documented["required"]) == {"type", *(f.encode_name for f in fields if f.required)}
    assert documented["additionalProperties"] is False  # forbid_unknown_fields


def test_the_documented_types_are_the_tags_msgspec_reads() -> None:
    tags = {member.__struct_config__.tag for member in schema.Event.__args__}
    documented = {tag for event in openapi.EVENT_TYPES.values() for tag in event["properties"]["type"]["enum"]}
    assert documented == tags
