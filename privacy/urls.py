from django.urls import path

from privacy import views
from privacy.apis import EndUserEraseApi, EndUserExportApi, ErasureStatusApi

P = "projects/<int:project_id>/"

urlpatterns = [
    path("api/v1/end-users/<path:user_id>/export", EndUserExportApi.as_view(), name="end-user-export-api"),
    path("api/v1/end-users/<path:user_id>", EndUserEraseApi.as_view(), name="end-user-erase-api"),
    path("api/v1/erasures/<int:erasure_id>", ErasureStatusApi.as_view(), name="erasure-status"),
    path(P + "users/<path:user_id>/export", views.export, name="end-user-export"),
    path(P + "users/<path:user_id>/erase", views.erase, name="end-user-erase"),
    path(P + "erasures/<int:erasure_id>/", views.erasure_status, name="end-user-erasure"),
]
