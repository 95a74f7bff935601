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
