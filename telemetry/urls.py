from django.urls import path

from telemetry.apis import CallDetailApi, CallListApi, TraceApi

urlpatterns = [
    path("api/v1/calls", CallListApi.as_view(), name="calls"),
    path("api/v1/calls/<path:call_id>", CallDetailApi.as_view(), name="call-detail"),
    path("api/v1/traces/<path:trace_id>", TraceApi.as_view(), name="trace"),
]
