from django.apps import AppConfig


class PricingConfig(AppConfig):
    name = "pricing"
    verbose_name = "Model prices"

    def ready(self) -> None:
        from pricing import signals  # noqa: F401
