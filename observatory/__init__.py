"""Observatory: self-hosted LLM observability (Django project package)."""
from observatory.celery import app as celery_app

__all__ = ["celery_app"]
