from django.apps import AppConfig


class RollupsConfig(AppConfig):
    name = "rollups"
    verbose_name = "Rollups"

    def ready(self) -> None:
        from rollups.fold import fold_calls
        from telemetry.services import register_processor

        register_processor(fold_calls)
