"""Template filters of the audit page. Values are untrusted (names, labels and settings typed by
people, model names sent by clients): these return plain strings, which templates escape."""
from __future__ import annotations

import json
from typing import Any

from django import template

register = template.Library()


@register.filter
def audit_value(value: Any) -> str:
    """A before/after value as text: strings as they are, everything else as compact JSON."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
