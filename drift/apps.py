from django.apps import AppConfig


class DriftConfig(AppConfig):
    name = "drift"
    verbose_name = "Drift"

    def ready(self) -> None:
        # Drift findings as an alerts metric source (STYLE.md point 14): alerts/ never imports drift.
        try:
            from alerts.registry import register_metric_source
        except ImportError:  # an install without the alerts app
            return
        from drift.sources import DriftSource

        register_metric_source(DriftSource())
