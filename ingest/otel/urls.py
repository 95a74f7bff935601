"""Routes of the OTLP receiver and of the Langfuse-compatible endpoints."""
from django.urls import path

from ingest.otel.apis import OtlpTracesApi
from ingest.otel.langfuse_apis import (
                                       LangfuseHealthApi,
                                       LangfuseIngestionApi,
                                       LangfuseProjectsApi,
                                       LangfuseScoreApi,
                                       LangfuseScoresApi,
)
from observatory.api import ANY_ID

urlpatterns = [
    # OTEL_EXPORTER_OTLP_ENDPOINT=http://host:port makes stock exporters post to /v1/traces.
    path("v1/traces", OtlpTracesApi.as_view(), name="otlp-traces"),
    path("api/v1/otlp/v1/traces", OtlpTracesApi.as_view(), name="otlp-traces-api"),
    # Langfuse SDKs (base_url=http://host:port) post spans here.
    path("api/public/otel/v1/traces", OtlpTracesApi.as_view(), name="langfuse-otel-traces"),
    path("api/public/scores", LangfuseScoresApi.as_view(), name="langfuse-scores"),
    path(f"api/public/scores/<{ANY_ID}:score_id>", LangfuseScoreApi.as_view(), name="langfuse-score"),
    path("api/public/ingestion", LangfuseIngestionApi.as_view(), name="langfuse-ingestion"),
    path("api/public/health", LangfuseHealthApi.as_view(), name="langfuse-health"),
    path("api/public/projects", LangfuseProjectsApi.as_view(), name="langfuse-projects"),
]
