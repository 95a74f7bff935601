from django.urls import path

from alerts import apis, views

P = "projects/<int:project_id>/alerts/"

urlpatterns = [
    path("api/v1/alerts/rules", apis.RuleListApi.as_view(), name="alerts-api-rules"),
    path("api/v1/alerts/rules/<int:rule_id>", apis.RuleDetailApi.as_view(), name="alerts-api-rule"),
    path("api/v1/alerts/channels", apis.ChannelListApi.as_view(), name="alerts-api-channels"),
    path("api/v1/alerts/channels/<int:channel_id>", apis.ChannelDetailApi.as_view(), name="alerts-api-channel"),
    path("api/v1/alerts/channels/<int:channel_id>/test", apis.ChannelTestApi.as_view(), name="alerts-api-channel-test"),
    path("api/v1/alerts/silences", apis.SilenceListApi.as_view(), name="alerts-api-silences"),
    path("api/v1/alerts/silences/<int:silence_id>", apis.SilenceDetailApi.as_view(), name="alerts-api-silence"),
    path("api/v1/alerts/incidents", apis.IncidentListApi.as_view(), name="alerts-api-incidents"),
    path("api/v1/budgets/status", apis.BudgetStatusApi.as_view(), name="budgets-status"),
    path("api/v1/alerts/incidents/<int:incident_id>/acknowledge", apis.IncidentAcknowledgeApi.as_view(),
         name="alerts-api-incident-acknowledge"),
    path(P, views.alerts_page, name="alerts"),
    path(P + "rules/new", views.rule_new, name="alerts-rule-new"),
    path(P + "rules/preview", views.rule_preview, name="alerts-rule-preview"),
    path(P + "rules/<int:rule_id>", views.rule_edit, name="alerts-rule-edit"),
    path(P + "rules/<int:rule_id>/delete", views.rule_remove, name="alerts-rule-delete"),
    path(P + "rules/<int:rule_id>/backtest", views.rule_backtest, name="alerts-rule-backtest"),
    path(P + "incidents/<int:incident_id>", views.incident_page, name="alerts-incident"),
    path(P + "incidents/<int:incident_id>/acknowledge", views.incident_ack, name="alerts-incident-ack"),
    path(P + "channels/new", views.channel_new, name="alerts-channel-new"),
    path(P + "channels/<int:channel_id>", views.channel_edit, name="alerts-channel-edit"),
    path(P + "channels/<int:channel_id>/test", views.channel_send_test, name="alerts-channel-test"),
    path(P + "silences/new", views.silence_new, name="alerts-silence-new"),
    path(P + "silences/<int:silence_id>/end", views.silence_stop, name="alerts-silence-end"),
]
