"""Any price edit in this process drops the cached catalog at once (others refresh on a timer)."""
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from pricing.models import ModelPrice


@receiver([post_save, post_delete], sender=ModelPrice)
def _invalidate(**kwargs: object) -> None:
    from pricing.catalog import invalidate

    invalidate()
