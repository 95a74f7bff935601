"""Load (or refresh) the shipped model price table into the database."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand

from pricing.services import SHIPPED_TABLE, prices_load


class Command(BaseCommand):
    help = "Upsert the shipped price table (pricing/data/prices.json). Admin-edited rows are kept."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--file", type=Path, default=SHIPPED_TABLE)

    def handle(self, *args: Any, file: Path, **options: Any) -> None:
        result = prices_load(path=file)
        if options["verbosity"] > 0:
            self.stdout.write(
                f"prices: {result['created']} created, {result['updated']} updated, "
                f"{result['kept_admin_edits']} admin-edited rows kept")
