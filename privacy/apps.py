from django.apps import AppConfig, apps


class PrivacyConfig(AppConfig):
    name = "privacy"
    verbose_name = "End users' data (GDPR)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from privacy.services import dataset_items_erase, register_erasure_step

        if apps.is_installed("review"):
            register_erasure_step(dataset_items_erase)
