from django.urls import path

from rollups.apis import MetricsApi, MetricsSummaryApi, MetricsTopApi

urlpatterns = [
    path("api/v1/metrics", MetricsApi.as_view(), name="metrics-series"),
    path("api/v1/metrics/summary", MetricsSummaryApi.as_view(), name="metrics-summary"),
    path("api/v1/metrics/top", MetricsTopApi.as_view(), name="metrics-top"),
]
