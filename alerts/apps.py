from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "alerts"
    verbose_name = "Alerts"

    def ready(self) -> None:
        from alerts.registry import register_action, register_metric_source
        from alerts.sources import RollupsSource, UsersSource, notify_action

        # The defaults; other apps register theirs the same way from their own AppConfig.ready()
        # (STYLE.md point 14): alerts/ never imports them.
        register_metric_source(RollupsSource())
        register_metric_source(UsersSource())
        register_action("notify", notify_action)
