from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from pricing.models import ModelPrice
from pricing.services import price_save


class ModelPriceForm(forms.ModelForm):
    class Meta:
        model = ModelPrice
        fields = "__all__"

    def clean_match_pattern(self) -> str:
        pattern = self.cleaned_data.get("match_pattern", "")
        if pattern:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise forms.ValidationError(f"Not a valid regular expression: {exc}") from exc
        return pattern


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    form = ModelPriceForm
    list_display = ["model", "provider", "project", "input_per_mtok", "output_per_mtok", "cached_input_per_mtok",
                    "effective_date", "is_builtin"]
    list_filter = ["provider", "is_builtin", "project"]
    search_fields = ["model", "provider"]
    readonly_fields = ["is_builtin", "updated_at"]

    def save_model(self, request: HttpRequest, obj: ModelPrice, form: Any, change: bool) -> None:
        # An admin's edit must survive the next load_prices run (price_save marks it); audited.
        price_save(price=obj, actor=request.user)
