"""A stored call and its payload, flattened into the text an evaluator reads (quality.evaluators.base.Sample).

Payloads are whatever clients sent: a string, chat messages ({"role", "content"}, content as a
string or a list of parts), or any JSON. Roles decide where text goes: system and developer
messages are instructions, user and tool messages are input, assistant messages are output.
"""
from __future__ import annotations

import json
from typing import Any

from quality.evaluators.base import Sample, bounded

_MAX_CHARS = 200_000  # per field, start and end: evaluators bound their own work further


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(t for t in (_text(v) for v in value) if t)
    if isinstance(value, dict):
        for key in ("content", "text", "value", "page_content", "document"):
            if key in value:
                return _text(value[key])
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _by_role(messages: Any) -> dict[str, list[str]]:
    roles: dict[str, list[str]] = {"system": [], "user": [], "assistant": []}
    if not (isinstance(messages, list) and messages and all(isinstance(m, dict) and "role" in m for m in messages)):
        return roles
    for message in messages:
        role = str(message.get("role", "")).lower()
        target = "system" if role in ("system", "developer") else ("assistant" if role in ("assistant", "model")
                                                                    else "user")
        roles[target].append(_text(message.get("content")))
    return roles


def _finish_reason(metadata: dict[str, Any], output: Any) -> str:
    reasons = metadata.get("finish_reasons") or metadata.get("finish_reason")
    if isinstance(reasons, list) and reasons:
        return str(reasons[0])
    if isinstance(reasons, str):
        return reasons
    if isinstance(output, list):
        for message in output:
            if isinstance(message, dict) and message.get("finish_reason"):
                return str(message["finish_reason"])
    if isinstance(output, dict) and output.get("finish_reason"):
        return str(output["finish_reason"])
    return ""


def _json_requested(params: dict[str, Any]) -> bool:
    fmt = params.get("response_format")
    kind = fmt.get("type") if isinstance(fmt, dict) else fmt
    return kind in ("json_object", "json_schema", "json") or params.get("json_mode") is True


def sample_of(*, model: str, params: dict[str, Any], metadata: dict[str, Any], input: Any, output: Any,
              context: Any, **call: Any) -> Sample:
    """`call` may carry project_id, call_id, feature, prompt_name, prompt_version and truncated
    (the payload fields the worker already cut)."""
    inputs, outputs = _by_role(input), _by_role(output)
    if any(inputs.values()):
        input_text, system_text = "\n".join(inputs["user"]), "\n".join(inputs["system"])
    else:
        input_text, system_text = _text(input), ""
    output_text = "\n".join(outputs["assistant"] or outputs["user"]) if any(outputs.values()) else _text(output)
    cut = {"input": len(input_text) > _MAX_CHARS, "output": len(output_text) > _MAX_CHARS}
    call["truncated"] = tuple(sorted({*call.get("truncated", ()), *(name for name, over in cut.items() if over)}))
    return Sample(input_text=bounded(input_text, _MAX_CHARS), output_text=bounded(output_text, _MAX_CHARS),
                  system_text=bounded(system_text, _MAX_CHARS), context_text=bounded(_text(context), _MAX_CHARS),
                  finish_reason=_finish_reason(metadata or {}, output), json_requested=_json_requested(params or {}),
                  model=model, metadata=metadata or {}, **call)
