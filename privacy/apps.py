from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "privacy"
    verbose_name = "End users' data (GDPR)"
    default_auto_field = "django.db.models.BigAutoField"
