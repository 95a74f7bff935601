from django.urls import path

from audit.apis import AuditListApi
from audit.views import audit_log

urlpatterns = [
    path("projects/<int:project_id>/settings/audit/", audit_log, name="audit-log"),
    path("api/v1/audit", AuditListApi.as_view(), name="audit-api"),
]
