from django.apps import AppConfig


class PromptsConfig(AppConfig):
    name = "prompts"
    verbose_name = "Prompts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # "Roll back a label" as an alerts action, when the alerts app is installed (STYLE.md
        # point 14: alerts never imports prompts).
        try:
            from alerts.registry import register_action
        except ImportError:
            return
        from prompts.services import rollback_action

        register_action("rollback_label", rollback_action)
