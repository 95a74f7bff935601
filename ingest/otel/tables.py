"""The conventions tables: which OTLP attribute feeds which native field, highest priority first.

Every supported convention is a row here: OpenTelemetry GenAI (current and older names),
OpenInference, Traceloop/OpenLLMetry and Langfuse. The mapping code (conventions.py) reads
them through the per-key lookups built at the bottom, so a span costs one pass over its own
attributes rather than a scan of every table. docs/otel.md is the reader's copy of these tables.
"""
from __future__ import annotations

from typing import Any

from ingest import limits

# Native string field <- attribute names, highest priority first (span attributes, then resource).
STRING_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("provider", ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")),
    ("model", ("gen_ai.response.model", "langfuse.observation.model.name", "llm.model_name",
               "llm.response.model_name", "gen_ai.request.model", "llm.request.model_name", "embedding.model_name",
               "llm.response.model", "llm.request.model")),
    ("operation", ("gen_ai.operation.name",)),
    ("user_id", ("user.id", "langfuse.user.id", "enduser.id", "traceloop.association.properties.user_id")),
    ("session_id", ("session.id", "langfuse.session.id", "gen_ai.conversation.id",
                    "traceloop.association.properties.session_id")),
    ("environment", ("langfuse.environment", "deployment.environment.name", "deployment.environment")),
    ("release", ("langfuse.release", "langfuse.version", "service.version")),
    ("feature", ("observatory.feature", "traceloop.association.properties.feature", "service.name")),
    ("team", ("observatory.team", "traceloop.association.properties.team")),
    ("prompt_name", ("langfuse.observation.prompt.name", "gen_ai.prompt.name", "traceloop.prompt.key")),
    ("prompt_version", ("langfuse.observation.prompt.version", "gen_ai.prompt.version", "traceloop.prompt.version",
                        "llm.prompt_template.version")),
    ("error_type", ("error.type",)),
)

# Usage field <- attribute names. input_tokens includes cached tokens, output_tokens includes reasoning.
TOKEN_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("input_tokens", ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt",
                      "llm.usage.prompt_tokens")),
    ("output_tokens", ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.token_count.completion",
                       "llm.usage.completion_tokens")),
    ("total_tokens", ("gen_ai.usage.total_tokens", "llm.usage.total_tokens", "llm.token_count.total")),
    ("cached_input_tokens", ("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens",
                             "llm.token_count.prompt_details.cache_read")),
    ("reasoning_tokens", ("gen_ai.usage.reasoning.output_tokens", "gen_ai.usage.reasoning_tokens",
                          "llm.token_count.completion_details.reasoning")),
    # No column: kept in metadata as usage.cache_write_input_tokens.
    ("cache_write_input_tokens", ("gen_ai.usage.cache_write.input_tokens", "gen_ai.usage.cache_creation.input_tokens",
                                  "gen_ai.usage.cache_creation_input_tokens",
                                  "llm.token_count.prompt_details.cache_write")),
)
COST_KEYS = ("gen_ai.usage.cost", "llm.cost.total")
# JSON objects of request parameters (merged under the gen_ai.request.* ones).
PARAM_JSON_KEYS = ("llm.invocation_parameters", "langfuse.observation.model.parameters",
                   "embedding.invocation_parameters")
TAG_KEYS = ("langfuse.trace.tags", "tag.tags", "observatory.tags")
FINISH_REASON_KEYS = ("gen_ai.response.finish_reasons", "llm.finish_reason")
RESPONSE_ID_KEYS = ("gen_ai.response.id",)

# Call kind, from the first convention that names one.
KIND_BY_ATTRIBUTE: tuple[tuple[str, dict[str, str | None]], ...] = (
    ("langfuse.observation.type", {"generation": "llm", "embedding": "embedding", "retriever": "retrieval",
                                   "tool": "tool", "agent": "agent", "chain": "chain", "evaluator": "other",
                                   "guardrail": "other", "event": "other", "span": None}),
    ("openinference.span.kind", {"LLM": "llm", "EMBEDDING": "embedding", "RETRIEVER": "retrieval",
                                 "RERANKER": "retrieval", "TOOL": "tool", "AGENT": "agent", "CHAIN": "chain",
                                 "GUARDRAIL": "other", "EVALUATOR": "other", "PROMPT": "other", "UNKNOWN": None}),
    ("gen_ai.operation.name", {"chat": "llm", "generate_content": "llm", "text_completion": "llm",
                               "completion": "llm", "embeddings": "embedding", "embedding": "embedding",
                               "retrieval": "retrieval", "execute_tool": "tool", "create_agent": "agent",
                               "invoke_agent": "agent", "invoke_workflow": "chain", "plan": "chain"}),
    ("llm.request.type", {"chat": "llm", "completion": "llm", "embedding": "embedding", "rerank": "retrieval"}),
    ("traceloop.span.kind", {"workflow": "chain", "task": "chain", "agent": "agent", "tool": "tool"}),
)
# Operation when gen_ai.operation.name is absent.
OPERATION_BY_ATTRIBUTE: tuple[tuple[str, dict[str, str]], ...] = (
    ("llm.request.type", {"chat": "chat", "completion": "text_completion", "embedding": "embeddings",
                          "rerank": "rerank"}),
    ("openinference.span.kind", {"LLM": "chat", "EMBEDDING": "embeddings", "RETRIEVER": "retrieval",
                                 "TOOL": "execute_tool", "AGENT": "invoke_agent"}),
)

# Prompts and completions, highest priority first. Each entry is (how, attribute or prefix).
INPUT_SOURCES = (("genai_messages", "gen_ai.input.messages"), ("events", ""), ("indexed", "gen_ai.prompt."),
                 ("openinference_messages", "llm.input_messages."), ("json", "langfuse.observation.input"),
                 ("json", "traceloop.entity.input"), ("json", "gen_ai.prompt"), ("mime", "input.value"),
                 ("embedding_texts", "embedding.embeddings."))
OUTPUT_SOURCES = (("genai_messages", "gen_ai.output.messages"), ("events", ""), ("indexed", "gen_ai.completion."),
                  ("openinference_messages", "llm.output_messages."), ("json", "langfuse.observation.output"),
                  ("json", "traceloop.entity.output"), ("json", "gen_ai.completion"), ("mime", "output.value"))
CONTEXT_PREFIX = "retrieval.documents."

# Families of indexed attributes read whole by the sources above: never copied to metadata.
FAMILY_PREFIXES = ("gen_ai.prompt.", "gen_ai.completion.", "llm.input_messages.", "llm.output_messages.",
                   "embedding.embeddings.", CONTEXT_PREFIX, "gen_ai.request.", "langfuse.observation.metadata",
                   "langfuse.trace.metadata", "langfuse.internal.")
# Read by the code below rather than the tables.
OTHER_KNOWN = {"langfuse.observation.level", "langfuse.observation.status_message",
               "langfuse.observation.usage_details", "langfuse.observation.cost_details",
               "langfuse.observation.completion_start_time", "langfuse.trace.name", "langfuse.trace.public",
               "gen_ai.system_instructions", "input.mime_type", "output.mime_type", "metadata",
               "gen_ai.response.time_to_first_chunk", "llm.request.type", "traceloop.span.kind",
               "traceloop.entity.name", "openinference.span.kind", "langfuse.observation.type"}
KNOWN_KEYS = frozenset(
    {k for _, keys in STRING_FIELDS + TOKEN_FIELDS for k in keys}
    | {k for k, _ in KIND_BY_ATTRIBUTE} | set(COST_KEYS) | set(PARAM_JSON_KEYS) | set(TAG_KEYS)
    | set(FINISH_REASON_KEYS) | set(RESPONSE_ID_KEYS) | OTHER_KNOWN
    | {key for sources in (INPUT_SOURCES, OUTPUT_SOURCES) for how, key in sources if how not in ("indexed", "events")}
)
# Fields that may come from the resource (the process's identity) when the span does not say.
RESOURCE_FIELDS = frozenset({"user_id", "session_id", "environment", "release", "feature", "team"})
# Resource attributes worth keeping per span (the rest describe the SDK or the process).
RESOURCE_METADATA = ("service.name", "service.namespace", "service.instance.id", "host.name", "k8s.namespace.name",
                     "k8s.pod.name", "cloud.region")

# Span events carrying content (deprecated GenAI events and OpenInference's streaming marker).
MESSAGE_EVENTS = {"gen_ai.system.message": "system", "gen_ai.user.message": "user",
                  "gen_ai.assistant.message": "assistant", "gen_ai.tool.message": "tool"}
CHOICE_EVENT = "gen_ai.choice"
DETAILS_EVENT = "gen_ai.client.inference.operation.details"
FIRST_TOKEN_EVENTS = ("First Token Stream Event", "gen_ai.content.first_chunk")
SPAN_KIND_NAMES = {1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}

# Bounds for what goes to metadata and params (within limits.MAX_METADATA_BYTES).
MAX_ATTRIBUTE_TEXT = 1024
MAX_STACKTRACE = 4096
STRING_LIMITS = {"name": limits.MAX_NAME, "provider": limits.MAX_PROVIDER, "model": limits.MAX_MODEL,
                 "operation": limits.MAX_OPERATION, "user_id": limits.MAX_USER, "session_id": limits.MAX_USER,
                 "feature": limits.MAX_DIMENSION, "team": limits.MAX_DIMENSION, "release": limits.MAX_DIMENSION,
                 "environment": limits.MAX_ENVIRONMENT, "prompt_name": limits.MAX_PROMPT_NAME,
                 "prompt_version": limits.MAX_PROMPT_VERSION, "error_type": limits.MAX_ERROR_TYPE}


# --- lookups derived from the tables ---------------------------------------------------------------

def _slots(table: tuple[tuple[str, tuple[str, ...]], ...]) -> dict[str, tuple[str, int]]:
    """attribute -> (field, priority): 0 is the first attribute of the field's row."""
    slots: dict[str, tuple[str, int]] = {}
    for name, keys in table:
        for priority, key in enumerate(keys):
            assert key not in slots, f"{key} feeds two fields"
            slots[key] = (name, priority)
    return slots


STRING_SLOTS = _slots(STRING_FIELDS)
TOKEN_SLOTS = _slots(TOKEN_FIELDS)
assert not STRING_SLOTS.keys() & TOKEN_SLOTS.keys()
RESOURCE_STRING_FIELDS = tuple((name, keys) for name, keys in STRING_FIELDS if name in RESOURCE_FIELDS)
# What a span must carry for a source of INPUT_SOURCES / OUTPUT_SOURCES to apply (besides span events).
PAYLOAD_KEYS = {name: frozenset(key for how, key in sources if how in ("genai_messages", "json", "mime"))
                for name, sources in (("input", INPUT_SOURCES), ("output", OUTPUT_SOURCES))}
PAYLOAD_FAMILIES = {name: tuple(key for how, key in sources if how in ("indexed", "openinference_messages",
                                                                        "embedding_texts"))
                    for name, sources in (("input", INPUT_SOURCES), ("output", OUTPUT_SOURCES))}

# The steps of the mapping that read attributes outside the per-key tables, as bits. The pass over
# a span's attributes ORs the bits of those it carries, and a step whose bit is unset is skipped:
# most spans carry none or a few of these, so they cost no lookups for the others.
(READS_USAGE_DETAILS, READS_COST, READS_FIRST_TOKEN, READS_LEVEL, READS_INPUT, READS_OUTPUT, READS_PARAMS,
 READS_TAGS, READS_FINISH, READS_RESPONSE_ID, READS_EXTRA_METADATA, READS_KIND) = (1 << bit for bit in range(12))
# gen_ai.operation.name feeds a field of its own (operation), so it has no bit: this is the kind
# table without the other attributes, for spans that carry none of them.
KIND_BY_OPERATION = tuple((key, table) for key, table in KIND_BY_ATTRIBUTE if key in STRING_SLOTS)
_READS_BY_KEYS: tuple[tuple[int, Any], ...] = (
    (READS_KIND, tuple(key for key, _ in KIND_BY_ATTRIBUTE if key not in STRING_SLOTS)),
    (READS_USAGE_DETAILS, ("langfuse.observation.usage_details",)),
    (READS_COST, COST_KEYS + ("langfuse.observation.cost_details",)),
    (READS_FIRST_TOKEN, ("gen_ai.response.time_to_first_chunk", "langfuse.observation.completion_start_time")),
    (READS_LEVEL, ("langfuse.observation.level",)),
    (READS_INPUT, PAYLOAD_KEYS["input"]),
    (READS_OUTPUT, PAYLOAD_KEYS["output"]),
    (READS_PARAMS, PARAM_JSON_KEYS),
    (READS_TAGS, TAG_KEYS),
    (READS_FINISH, FINISH_REASON_KEYS),
    (READS_RESPONSE_ID, RESPONSE_ID_KEYS),
    (READS_EXTRA_METADATA, ("metadata", "langfuse.trace.name")),
)


def _reads() -> dict[str, int]:
    reads: dict[str, int] = {}
    for bit, keys in _READS_BY_KEYS:
        for key in keys:
            assert key in KNOWN_KEYS and key not in STRING_SLOTS and key not in TOKEN_SLOTS, key
            reads[key] = reads.get(key, 0) | bit
    return reads


READS = _reads()  # attribute -> bits of the steps that read it

# What each attribute is to the mapping, looked up once per attribute of a span: (STRING, field,
# priority), (TOKEN, field, priority), (KNOWN, READS bits), (FAMILY, prefix, rest) or (OTHER,).
STRING, TOKEN, KNOWN, FAMILY, OTHER = range(5)
ROLES: dict[str, tuple[Any, ...]] = {
    **{key: (KNOWN, READS.get(key, 0)) for key in KNOWN_KEYS},
    **{key: (STRING, *slot) for key, slot in STRING_SLOTS.items()},
    **{key: (TOKEN, *slot) for key, slot in TOKEN_SLOTS.items()},
}
_MAX_ROLES = len(ROLES) + 4096  # memo of attribute names seen, bounded (names come from clients)


def attribute_role(key: str) -> tuple[Any, ...]:
    """The role of an attribute name; names outside the tables are classified once, then remembered."""
    role = ROLES.get(key)
    if role is not None:
        return role
    role = (OTHER,)
    if key.startswith(FAMILY_PREFIXES):
        for prefix in FAMILY_PREFIXES:
            if key.startswith(prefix):
                role = (FAMILY, prefix, key[len(prefix):].lstrip("."))
                break
    if len(ROLES) < _MAX_ROLES:
        ROLES[key] = role
    return role
