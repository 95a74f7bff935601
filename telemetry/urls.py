from django.urls import path

from telemetry.apis import CallDetailApi, CallListApi, FeedbackEditApi, ScoreEditApi, TraceApi

urlpatterns = [
    path("api/v1/calls", CallListApi.as_view(), name="calls"),
    path("api/v1/calls/<path:call_id>", CallDetailApi.as_view(), name="call-detail"),
    path("api/v1/traces/<path:trace_id>", TraceApi.as_view(), name="trace"),
    path("api/v1/scores/<path:score_id>", ScoreEditApi.as_view(), name="score-edit"),
    path("api/v1/feedback/<path:feedback_id>", FeedbackEditApi.as_view(), name="feedback-edit"),
]
