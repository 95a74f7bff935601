from django.urls import path

from observatory.api import ANY_ID
from telemetry.apis import CallDetailApi, CallListApi, FeedbackEditApi, ScoreEditApi, TraceApi

urlpatterns = [
    path("api/v1/calls", CallListApi.as_view(), name="calls"),
    path(f"api/v1/calls/<{ANY_ID}:call_id>", CallDetailApi.as_view(), name="call-detail"),
    path(f"api/v1/traces/<{ANY_ID}:trace_id>", TraceApi.as_view(), name="trace"),
    path(f"api/v1/scores/<{ANY_ID}:score_id>", ScoreEditApi.as_view(), name="score-edit"),
    path(f"api/v1/feedback/<{ANY_ID}:feedback_id>", FeedbackEditApi.as_view(), name="feedback-edit"),
]
