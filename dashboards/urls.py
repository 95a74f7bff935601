from django.contrib.auth import views as auth_views
from django.urls import include, path

from dashboards.views import (
    call_detail,
    calls,
    cost,
    feedback,
    home,
    latency,
    overview,
    people,
    project_settings,
    quality,
    trace,
)
from review import explorer as review_explorer  # the explorer's "add to a review queue" (review/explorer.py)

P = "projects/<int:project_id>/"

urlpatterns = [
    path("", home.home, name="home"),
    path("switch", home.switch, name="switch-project"),
    path("projects/new", home.project_new, name="project-new"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/", include("django.contrib.auth.urls")),
    path(P, overview.overview, name="overview"),
    path(P + "start/", home.start, name="start"),
    path(P + "cost/", cost.cost, name="cost"),
    path(P + "latency/", latency.latency, name="latency"),
    path(P + "quality/", quality.quality, name="quality"),
    path(P + "calls/", calls.explorer, name="calls"),
    # Not under calls/: any path there is a call id.
    path(P + "explorer/count", calls.count, name="calls-count"),
    path(P + "explorer/review", review_explorer.add, name="calls-review-add"),
    path(P + "calls/<path:external_id>", call_detail.detail, name="call-detail"),
    path(P + "traces/<path:trace_id>", trace.trace, name="trace"),
    path(P + "feedback/", feedback.inbox, name="feedback-inbox"),
    path(P + "people/", people.people, name="people"),
    path(P + "users/<path:user_id>", people.user_detail, name="user-detail"),
    path(P + "sessions/<path:session_id>", people.session_detail, name="session-detail"),
    path(P + "settings/", project_settings.overview, name="settings"),
    path(P + "settings/keys/", project_settings.key_create, name="key-create"),
    path(P + "settings/keys/<int:key_id>/revoke", project_settings.key_revoke, name="key-revoke"),
    path(P + "settings/members/", project_settings.member_add, name="member-add"),
    path(P + "settings/members/<int:membership_id>", project_settings.member_update, name="member-update"),
    path(P + "settings/quality/", project_settings.quality_update, name="settings-quality"),
    path(P + "settings/retention/", project_settings.retention_update, name="settings-retention"),
    path(P + "settings/judges/", project_settings.judge_update, name="judge-add"),
    path(P + "settings/judges/<int:judge_id>", project_settings.judge_update, name="judge-update"),
    path(P + "settings/judges/<int:judge_id>/delete", project_settings.judge_remove, name="judge-delete"),
    path(P + "settings/rules/", project_settings.rules_update, name="settings-rules"),
    path(P + "settings/prices/", project_settings.price_add, name="price-add"),
    path(P + "settings/prices/<int:price_id>/delete", project_settings.price_delete, name="price-delete"),
]
