from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from observatory import health, security

# A URL no route matches: the API's error body under /api/ and /v1/, the usual page elsewhere.
handler404 = "observatory.api.not_found"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("metrics", health.metrics, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file (?script): no inline script under the CSP.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", security.RedocView.as_view(url_name="schema"), name="api-redoc"),
    # Before dashboards' include of django.contrib.auth.urls, which serves the stock views at the same paths.
    path("accounts/password_reset/", security.PasswordResetView.as_view(), name="password_reset"),
    path("accounts/reset/<uidb64>/<token>/", security.PasswordResetConfirmView.as_view(),
         name="password_reset_confirm"),
    path("api-auth/", include("rest_framework.urls")),
    path("", include("ingest.urls")),
    path("", include("ingest.otel.urls")),
    path("", include("telemetry.urls")),
    path("", include("rollups.urls")),
    path("", include("alerts.urls")),
    path("", include("prompts.urls")),
    path("", include("audit.urls")),
    path("", include("drift.urls")),
    path("", include("privacy.urls")),  # before dashboards: users/<path>/export|erase
    path("", include("review.urls")),
    path("", include("dashboards.urls")),
]
