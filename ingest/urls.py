from django.urls import path

from ingest.apis import IngestApi

urlpatterns = [path("api/v1/ingest", IngestApi.as_view(), name="ingest")]
