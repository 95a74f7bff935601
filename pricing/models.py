"""Model prices in USD per million tokens: shipped defaults plus per-project overrides."""
from __future__ import annotations

from django.db import models

from tenancy.models import Project


class ModelPrice(models.Model):
    # Null project: the shipped, global table. A project's own rows win over global ones.
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.CASCADE, related_name="prices")
    provider = models.CharField(max_length=100, blank=True, default="")
    model = models.CharField(max_length=200, help_text="Canonical model id, e.g. gpt-4o (no date suffix).")
    aliases = models.JSONField(default=list, blank=True, help_text="Other names for exactly this model.")
    match_pattern = models.CharField(max_length=300, blank=True, default="",
                                     help_text="Optional regular expression matched against the model name.")
    input_per_mtok = models.DecimalField(max_digits=14, decimal_places=6)
    output_per_mtok = models.DecimalField(max_digits=14, decimal_places=6)
    cached_input_per_mtok = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    long_context_threshold = models.IntegerField(null=True, blank=True,
                                                 help_text="Input tokens above which the long-context prices apply.")
    long_input_per_mtok = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    long_output_per_mtok = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    long_cached_input_per_mtok = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    effective_date = models.DateField()
    source = models.CharField(max_length=300, blank=True, default="")
    is_builtin = models.BooleanField(default=False, help_text="Loaded from the shipped table; edits clear it.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # load_prices upserts on this key; a project has one price per model per date.
            models.UniqueConstraint(fields=["project", "provider", "model", "effective_date"],
                                    name="modelprice_unique", nulls_distinct=False),
        ]
        # The whole table (a few hundred rows) is read into memory by pricing.catalog; no other index needed.

    def __str__(self) -> str:
        scope = f"project {self.project_id}" if self.project_id else "global"
        return f"{self.provider}/{self.model} from {self.effective_date} ({scope})"
