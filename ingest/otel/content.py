"""Prompts, completions and retrieved documents of a span, whichever convention carries them.

GenAI JSON messages (`gen_ai.input.messages`), the deprecated per-message span events, indexed
attribute families (`gen_ai.prompt.0.role`, `llm.input_messages.0.message.content`), JSON text
(Langfuse, Traceloop) and OpenInference's `input.value` all end up as the native `input` / `output`
/ `context` values. The sources are tried in the order of tables.INPUT_SOURCES / OUTPUT_SOURCES.
"""
from __future__ import annotations

from typing import Any

import msgspec

from ingest import limits
from ingest.otel.otlp import OtlpSpan
from ingest.otel.tables import CHOICE_EVENT, CONTEXT_PREFIX, MESSAGE_EVENTS
from ingest.validation import too_deep

_encode = msgspec.json.encode
_decode = msgspec.json.decode
_JSON_STARTS = ("{", "[", '"')


def maybe_json(value: Any) -> Any:
    """Attributes often carry JSON text (Langfuse, Traceloop, OpenInference); decode it when it is.
    JSON nested deeper than limits.MAX_DEPTH stays text, as sent: decoded, it would be refused (and
    ~1,000 levels exhaust the decoder's recursion); the check costs two counts of the text's brackets."""
    if isinstance(value, str) and value[:1] in _JSON_STARTS:
        if value.count("[") + value.count("{") > limits.MAX_DEPTH and too_deep(value.encode()):
            return value
        try:
            return _decode(value)
        except (msgspec.DecodeError, RecursionError):
            return value
    return value


def text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (list, dict)):
        return _encode(value).decode()
    return str(value)


def unflatten(flat: dict[str, Any]) -> Any:
    """{"0.role": "user", "0.content": "hi"} -> [{"role": "user", "content": "hi"}]."""
    root: dict[str, Any] = {}
    for path, value in flat.items():
        node = root
        parts = path.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        if not isinstance(node.get(parts[-1]), dict):
            node[parts[-1]] = value
    return _listify(root)


def _listify(node: Any) -> Any:
    if isinstance(node, dict):
        node = {k: _listify(v) for k, v in node.items()}
        if node and all(k.isdigit() for k in node):
            return [node[k] for k in sorted(node, key=int)]
    return node


def _genai_message(message: Any) -> Any:
    """A GenAI message ({"role", "parts": [...]}) as {"role", "content"}; non-text parts kept as parts."""
    if not isinstance(message, dict) or not isinstance(message.get("parts"), list):
        return message
    parts = message["parts"]
    out = message.copy()  # the other keys, in their order (a copy: the attribute value stays as sent)
    del out["parts"]
    if len(parts) == 1 and isinstance(part := parts[0], dict) and part.get("type") == "text":
        out["content"] = text(part.get("content"))  # the usual message: one text part
        return out
    texts = [p.get("content") for p in parts if isinstance(p, dict) and p.get("type") == "text"]
    out["content"] = "\n".join([text(t) for t in texts]) if len(texts) == len(parts) else parts
    return out


def _genai_messages(value: Any, system: Any = None) -> Any:
    value = maybe_json(value)
    messages = [_genai_message(m) for m in value] if isinstance(value, list) else ([] if value is None else [value])
    system = maybe_json(system)
    if system:
        parts = system if isinstance(system, list) else [{"type": "text", "content": system}]
        messages.insert(0, _genai_message({"role": "system", "parts": parts}))
    return messages or None


def _openinference_message(node: Any) -> Any:
    message = node.get("message", node) if isinstance(node, dict) else node
    if not isinstance(message, dict):
        return message
    out: dict[str, Any] = {}
    if "role" in message:
        out["role"] = message["role"]
    if "content" in message:
        out["content"] = message["content"]
    elif isinstance(message.get("contents"), list):
        contents = [c.get("message_content", c) if isinstance(c, dict) else c for c in message["contents"]]
        texts = [c.get("text") for c in contents if isinstance(c, dict) and c.get("type", "text") == "text"]
        out["content"] = "\n".join([text(t) for t in texts]) if len(texts) == len(contents) else contents
    if isinstance(message.get("tool_calls"), list):
        calls = []
        for call in message["tool_calls"]:
            call = call.get("tool_call", call) if isinstance(call, dict) else {}
            function = call.get("function") or {}
            calls.append({"id": call.get("id"), "name": function.get("name"),
                          "arguments": maybe_json(function.get("arguments"))})
        out["tool_calls"] = calls
    for key in ("name", "tool_call_id"):
        if key in message:
            out[key] = message[key]
    return out


def event_messages(span: OtlpSpan) -> tuple[list[Any], list[Any]]:
    """Content carried by span events: the deprecated per-message GenAI events and gen_ai.content.*."""
    inputs: list[Any] = []
    outputs: list[Any] = []
    for event in span.events:
        attrs = event.attributes
        if event.name in MESSAGE_EVENTS:
            body = maybe_json(attrs.get("gen_ai.event.content", attrs.get("content")))
            message = dict(body) if isinstance(body, dict) else {"content": body}
            message.setdefault("role", attrs.get("role") or MESSAGE_EVENTS[event.name])
            inputs.append(message)
        elif event.name == CHOICE_EVENT:
            body = maybe_json(attrs.get("message", attrs.get("gen_ai.event.content")))
            message = dict(body) if isinstance(body, dict) else {"content": body}
            message.setdefault("role", "assistant")
            if attrs.get("finish_reason"):
                message["finish_reason"] = attrs["finish_reason"]
            outputs.append(message)
        elif event.name == "gen_ai.content.prompt" and "gen_ai.prompt" in attrs:
            inputs.append(maybe_json(attrs["gen_ai.prompt"]))
        elif event.name == "gen_ai.content.completion" and "gen_ai.completion" in attrs:
            outputs.append(maybe_json(attrs["gen_ai.completion"]))
    return inputs, outputs


def payload(sources: tuple[tuple[str, str], ...], attrs: dict[str, Any], families: dict[str, dict[str, Any]],
            events: list[Any], details: dict[str, Any]) -> Any:
    """The first source in `sources` that the span carries, as a native input or output value."""
    for how, key in sources:
        if how == "genai_messages":
            value = attrs.get(key, details.get(key))
            if value is not None:
                system = attrs.get("gen_ai.system_instructions", details.get("gen_ai.system_instructions"))
                return _genai_messages(value, system if key == "gen_ai.input.messages" else None)
        elif how == "events":
            if events:
                return events[0] if len(events) == 1 and not isinstance(events[0], dict) else events
        elif how == "indexed":
            if families.get(key):
                value = unflatten(families[key])
                if isinstance(value, list):
                    return value
        elif how == "openinference_messages":
            if families.get(key):
                value = unflatten(families[key])
                if isinstance(value, list):
                    return [_openinference_message(m) for m in value]
        elif how == "json":
            if attrs.get(key) is not None:
                return maybe_json(attrs[key])
        elif how == "mime":
            if attrs.get(key) is not None:
                mime = attrs.get(key.replace(".value", ".mime_type"), "")
                return maybe_json(attrs[key]) if mime == "application/json" else attrs[key]
        elif how == "embedding_texts":
            value = unflatten(families.get(key) or {})
            if isinstance(value, list):
                texts = [(e.get("embedding") or {}).get("text") for e in value if isinstance(e, dict)]
                if any(t is not None for t in texts):
                    return texts
    return None


def context(families: dict[str, dict[str, Any]]) -> Any:
    """Retrieved documents (OpenInference `retrieval.documents.N.document.*`)."""
    if CONTEXT_PREFIX not in families:
        return None
    documents = unflatten(families[CONTEXT_PREFIX])
    if not isinstance(documents, list):
        return None
    return [d.get("document", d) if isinstance(d, dict) else d for d in documents]
