"""Decode an OTLP/HTTP trace export (protobuf or OTLP/JSON) into plain `OtlpSpan`s, and encode the answers.

Both encodings end up in the same small structure so that one conventions module maps them.
Ids stay lowercase hex strings: protobuf bytes are hexed here, OTLP/JSON already sends hex
(not the base64 of the generic protobuf JSON mapping, which is why `json_format` is not used).
"""
from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import msgspec
from google.protobuf.message import DecodeError
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from ingest import limits
from ingest.body import BodyError
from ingest.validation import shallow

PROTOBUF = "protobuf"
JSON = "json"
MEDIA_TYPES = {"application/x-protobuf": PROTOBUF, "application/protobuf": PROTOBUF, "application/json": JSON}
CONTENT_TYPES = {PROTOBUF: "application/x-protobuf", JSON: "application/json"}

# google.rpc.Code values for the Status body of error responses (OTLP/HTTP "Failures").
GRPC_CODE_BY_HTTP = {400: 3, 401: 16, 403: 7, 404: 5, 413: 3, 415: 3, 429: 8, 500: 13, 503: 14}

_SPAN_KINDS = {"SPAN_KIND_UNSPECIFIED": 0, "SPAN_KIND_INTERNAL": 1, "SPAN_KIND_SERVER": 2, "SPAN_KIND_CLIENT": 3,
               "SPAN_KIND_PRODUCER": 4, "SPAN_KIND_CONSUMER": 5}
_STATUS_CODES = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}


@dataclass(slots=True)
class SpanEvent:
    name: str
    time_ns: int
    attributes: dict[str, Any]


@dataclass(slots=True)
class OtlpSpan:
    trace_id: str  # lowercase hex as received; validated by the conventions module
    span_id: str
    parent_span_id: str
    name: str
    kind: int
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    events: list[SpanEvent]
    status_code: int
    status_message: str
    resource: dict[str, Any]  # shared by every span of one ResourceSpans
    scope_name: str = ""
    scope_version: str = ""
    # Set when this span of an OTLP/JSON body could not be read; the rest of the batch still is.
    decode_error: str = ""
    # The ids were bytes hexed by the protobuf decoder: hex for sure, only their lengths can be wrong.
    hex_ids: bool = False


def media_type(content_type: str | None) -> str | None:
    return MEDIA_TYPES.get((content_type or "").split(";")[0].strip().lower())


def decode(body: bytes, encoding: str) -> list[OtlpSpan]:
    """All spans of an ExportTraceServiceRequest. Raises BodyError(400) if the body is not one."""
    if encoding == PROTOBUF:
        return _decode_protobuf(body)
    return _decode_json(body)


# --- protobuf ---------------------------------------------------------------------------------

_SCALARS = frozenset({"string_value", "int_value", "double_value", "bool_value"})


def _pb_value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind in _SCALARS:
        return getattr(value, kind)
    if kind == "array_value":
        return [_pb_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _pb_value(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return None


def _pb_attributes(attributes: Any) -> dict[str, Any]:
    out = {}
    for kv in attributes:
        value = kv.value
        # Most attributes are non-empty strings: one field read instead of WhichOneof + getattr;
        # the other scalars (token counts, parameters) without a call of _pb_value.
        text = value.string_value
        if text:
            out[kv.key] = text
        else:
            kind = value.WhichOneof("value")
            out[kv.key] = getattr(value, kind) if kind in _SCALARS else _pb_value(value)
    return out


def _decode_protobuf(body: bytes) -> list[OtlpSpan]:
    try:
        request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise BodyError(400, "invalid_protobuf",
                        f"The body is not a protobuf ExportTraceServiceRequest ({exc}).") from None
    spans: list[OtlpSpan] = []
    append = spans.append
    for resource_spans in request.resource_spans:
        resource = _pb_attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope_name, scope_version = scope_spans.scope.name, scope_spans.scope.version
            for s in scope_spans.spans:
                status = s.status
                append(OtlpSpan(
                    s.trace_id.hex(), s.span_id.hex(), s.parent_span_id.hex(), s.name, s.kind,
                    s.start_time_unix_nano, s.end_time_unix_nano, _pb_attributes(s.attributes),
                    [SpanEvent(e.name, e.time_unix_nano, _pb_attributes(e.attributes)) for e in s.events]
                    if s.events else [],
                    status.code, status.message, resource, scope_name, scope_version, "", True))
    return spans


# --- OTLP/JSON ---------------------------------------------------------------------------------

_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1  # int64 attributes, fixed64 times


def _json_int(value: Any) -> int:
    # 64-bit integers arrive as decimal strings or as numbers; both are valid OTLP/JSON.
    if isinstance(value, bool):
        raise ValueError("expected an integer, got a boolean")
    if isinstance(value, (int, str)):
        number = int(value)
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    else:
        raise ValueError(f"expected an integer, got {type(value).__name__}")
    if not _INT_MIN <= number <= _INT_MAX:
        raise ValueError(f"{str(value)[:40]}… is not a 64-bit integer")
    return number


def _json_value(value: Any, depth: int = 1) -> Any:
    # `depth` bounds kvlist and array nesting (limits.MAX_DEPTH): the span is refused, not the batch.
    if depth > limits.MAX_DEPTH:
        raise _too_deep_error()
    if not isinstance(value, dict):
        return None
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        return _json_int(value["intValue"])
    if "doubleValue" in value:
        raw = value["doubleValue"]
        return float(raw) if isinstance(raw, (int, float, str)) else None
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "arrayValue" in value:
        return [_json_value(v, depth + 1) for v in (value["arrayValue"] or {}).get("values") or []]
    if "kvlistValue" in value:
        return _json_attributes((value["kvlistValue"] or {}).get("values"), depth + 1)
    if "bytesValue" in value:
        return value["bytesValue"]  # already base64 in OTLP/JSON
    if _TOO_DEEP_KEY in value:  # cut by validation.shallow
        raise _too_deep_error()
    return None


def _json_attributes(items: Any, depth: int = 1) -> dict[str, Any]:
    if not items:
        return {}
    if not isinstance(items, list):
        raise ValueError("attributes must be a list of {key, value}")
    return {str(kv["key"]): _json_value(kv.get("value"), depth) for kv in items}


def _json_enum(value: Any, names: dict[str, int]) -> int:
    if isinstance(value, str) and value in names:
        return names[value]
    return _json_int(value or 0)


def _json_span(s: dict[str, Any], resource: dict[str, Any], scope_name: str, scope_version: str) -> OtlpSpan:
    status = s.get("status") or {}
    return OtlpSpan(
        trace_id=str(s.get("traceId") or "").lower(), span_id=str(s.get("spanId") or "").lower(),
        parent_span_id=str(s.get("parentSpanId") or "").lower(), name=str(s.get("name") or ""),
        kind=_json_enum(s.get("kind"), _SPAN_KINDS),
        start_ns=_json_int(s.get("startTimeUnixNano") or 0), end_ns=_json_int(s.get("endTimeUnixNano") or 0),
        attributes=_json_attributes(s.get("attributes")),
        events=[SpanEvent(str(e.get("name") or ""), _json_int(e.get("timeUnixNano") or 0),
                          _json_attributes(e.get("attributes"))) for e in s.get("events") or []],
        status_code=_json_enum(status.get("code"), _STATUS_CODES), status_message=str(status.get("message") or ""),
        resource=resource, scope_name=scope_name, scope_version=scope_version)


# A body too deep to decode at once is decoded with its deepest values cut (validation.shallow):
# deeper than any attribute may nest, so a cut value is always refused with its span.
_SHALLOW_DEPTH = min(4 * limits.MAX_DEPTH + 16, 400)  # a kvlist level is 4 JSON levels
_TOO_DEEP_KEY = "observatory.too_deep"


def _too_deep_error() -> ValueError:
    return ValueError(f"an attribute value nests deeper than {limits.MAX_DEPTH} levels, the limit "
                      "(OBSERVATORY_INGEST_MAX_DEPTH)")



def _decode_json(body: bytes) -> list[OtlpSpan]:
    try:
        request = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise BodyError(400, "invalid_json", f"The body is not valid JSON: {exc}.") from None
    except RecursionError:
        try:
            request = msgspec.json.decode(shallow(body, _SHALLOW_DEPTH))
        except msgspec.DecodeError as exc:
            raise BodyError(400, "invalid_json", f"The body is not valid JSON: {exc}.") from None
        except RecursionError:
            raise BodyError(400, "too_deep", "The body nests JSON too deeply to be read; attribute values may "
                                             f"nest at most {limits.MAX_DEPTH} levels "
                                             "(OBSERVATORY_INGEST_MAX_DEPTH).") from None
    if not isinstance(request, dict):
        raise BodyError(400, "invalid_body", "The body must be an OTLP/JSON ExportTraceServiceRequest object.")
    spans: list[OtlpSpan] = []
    try:
        for resource_spans in request.get("resourceSpans") or []:
            resource = _json_attributes((resource_spans.get("resource") or {}).get("attributes"))
            for scope_spans in resource_spans.get("scopeSpans") or []:
                scope = scope_spans.get("scope") or {}
                scope_name, scope_version = str(scope.get("name") or ""), str(scope.get("version") or "")
                for raw in scope_spans.get("spans") or []:
                    try:
                        spans.append(_json_span(raw, resource, scope_name, scope_version))
                    except (TypeError, ValueError, AttributeError, KeyError) as exc:
                        # One malformed span is refused on its own (partial success), not the batch.
                        ident = raw if isinstance(raw, dict) else {}
                        spans.append(OtlpSpan(
                            trace_id=str(ident.get("traceId") or ""), span_id=str(ident.get("spanId") or ""),
                            parent_span_id="", name="", kind=0, start_ns=0, end_ns=0, attributes={}, events=[],
                            status_code=0, status_message="", resource=resource,
                            decode_error=f"the span is not valid OTLP/JSON: {exc}"))
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        raise BodyError(400, "invalid_body", f"The body is not an OTLP/JSON ExportTraceServiceRequest: {exc}.") from None
    return spans


# --- responses ---------------------------------------------------------------------------------

def export_response(encoding: str, rejected: int, message: str) -> bytes:
    """ExportTraceServiceResponse; partial_success only when something is worth saying."""
    if encoding == PROTOBUF:
        response = trace_service_pb2.ExportTraceServiceResponse()
        if rejected or message:
            response.partial_success.rejected_spans = rejected
            response.partial_success.error_message = message
        return response.SerializeToString()
    if not (rejected or message):
        return b"{}"
    # int64 fields are decimal strings in the protobuf JSON mapping that OTLP/JSON follows.
    return msgspec.json.encode({"partialSuccess": {"rejectedSpans": str(rejected), "errorMessage": message}})


def status_body(encoding: str, http_status: int, message: str) -> bytes:
    """The google.rpc.Status body OTLP/HTTP expects with a 4xx/5xx, in the request's encoding."""
    code = GRPC_CODE_BY_HTTP.get(http_status, 2)
    if encoding == PROTOBUF:
        return status_pb2.Status(code=code, message=message).SerializeToString()
    return msgspec.json.encode({"code": code, "message": message})
