"""Every ingest limit, in one place. Values come from settings (docs/configuration.md)."""
from __future__ import annotations

from django.conf import settings

MAX_EVENTS = settings.INGEST_MAX_EVENTS  # events per batch; more is 413
MAX_BODY_BYTES = settings.INGEST_MAX_BODY_BYTES  # decompressed body; more is 413
MAX_PAYLOAD_BYTES = settings.INGEST_MAX_PAYLOAD_BYTES  # each of input, output, context (JSON text)
MAX_METADATA_BYTES = settings.INGEST_MAX_METADATA_BYTES  # metadata and params (JSON text)
MAX_ERROR_MESSAGE = settings.INGEST_MAX_ERROR_MESSAGE

# String fields: lengths match the database columns, so nothing is ever cut silently.
MAX_ID = 255
MAX_TRACE_ID = 128
MAX_NAME = 255
MAX_PROVIDER = 100
MAX_MODEL = 200
MAX_OPERATION = 64
MAX_ERROR_TYPE = 255
MAX_PROMPT_NAME = 200
MAX_PROMPT_VERSION = 64
MAX_USER = 255
MAX_DIMENSION = 100  # feature, team, release, tags, score names
MAX_ENVIRONMENT = 64
MAX_TAGS = 50
MAX_COMMENT = 10_000
MAX_INT32 = 2**31 - 1
MAX_LATENCY_MS = 7 * 24 * 3600 * 1000.0  # a week; longer is a clock bug, not a call
# JSON nesting: input, output, context, params, metadata (native) and attribute values (OTLP)
# may nest this many levels; deeper is refused per event or span (Python's own recursion limit,
# ~1,000 frames, would otherwise turn a deep value into a 500).
MAX_DEPTH = settings.INGEST_MAX_DEPTH
# Event times accepted: from MAX_AGE_DAYS ago to MAX_FUTURE_HOURS ahead of the time received.
# Outside it the event is refused: a year-1 or year-9999 call must not land in the rollups.
MAX_AGE_DAYS = settings.INGEST_MAX_AGE_DAYS
MAX_FUTURE_HOURS = settings.INGEST_MAX_FUTURE_HOURS
MAX_AGE_SECONDS = MAX_AGE_DAYS * 86400.0
MAX_FUTURE_SECONDS = MAX_FUTURE_HOURS * 3600.0
MAX_COST_USD = 1_000_000
COST_DECIMALS = 12  # the cost columns' scale; a cost with more decimals is refused, not rounded
