from django.urls import path

from drift import apis, views

P = "projects/<int:project_id>/drift/"

urlpatterns = [
    path("api/v1/drift/runs", apis.RunListApi.as_view(), name="drift-api-runs"),
    path("api/v1/drift/runs/<int:run_id>/findings", apis.RunFindingsApi.as_view(), name="drift-api-run-findings"),
    path("api/v1/drift/findings", apis.FindingListApi.as_view(), name="drift-api-findings"),
    path(P, views.drift_page, name="drift"),
    path(P + "run", views.run_now, name="drift-run"),
    path(P + "settings", views.settings_page, name="drift-settings"),
    path(P + "findings/<int:finding_id>", views.finding_detail, name="drift-finding"),
]
