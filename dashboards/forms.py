"""Forms of the dashboards' settings page. Validation that already exists elsewhere is inherited,
not copied: quality settings from quality.admin, price patterns from pricing.admin."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.contrib.auth.forms import PasswordResetForm
from django.contrib.auth.models import AbstractBaseUser

from pricing.admin import ModelPriceForm
from pricing.models import ModelPrice
from quality.admin import QualitySettingsForm
from quality.evaluators.pii import PII_TYPES
from quality.registry import EVALUATORS
from quality.services import score_directions_validate
from tenancy.models import Organization, Project, Role, Scope

RETENTION_FIELDS = [  # (Project.retention(name) name, label)
    ("payload_days", "Inputs and outputs (days)"),
    ("call_days", "Calls, scores and feedback (days)"),
    ("hour_rollup_days", "Hourly chart data (days)"),
    ("day_rollup_days", "Daily chart data (days)"),
]


class Prefixed:
    """Labels without a trailing colon; ids prefixed per form, because the page holds several forms."""

    id_prefix = "f"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", f"{self.id_prefix}_%s")
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class ApiKeyForm(Prefixed, forms.Form):
    id_prefix = "key"
    name = forms.CharField(max_length=100, label="Key name", help_text="Where the key is used, e.g. \"backend prod\".")
    scopes = forms.MultipleChoiceField(choices=Scope.choices, widget=forms.CheckboxSelectMultiple, label="Scopes",
                                       initial=[Scope.INGEST],
                                       help_text="Ingest sends events; read queries this project through the API.")


def _role_choices(can_grant_owner: bool) -> list[tuple[str, str]]:
    return [(value, label) for value, label in Role.choices if can_grant_owner or value != Role.OWNER]


class MemberAddForm(Prefixed, forms.Form):
    id_prefix = "member"
    identifier = forms.CharField(max_length=254, label="Email or username",
                                 help_text="Someone without an account gets one, and an email to set its password.")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER, label="Role")

    def __init__(self, *args: Any, can_grant_owner: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Offering only what this person may grant; the service checks again.
        self.fields["role"].choices = _role_choices(can_grant_owner)


class MemberUpdateForm(forms.Form):
    action = forms.ChoiceField(choices=[("role", "Change role"), ("remove", "Remove")])
    role = forms.ChoiceField(choices=Role.choices, required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("action") == "role" and not data.get("role"):
            self.add_error("role", "Choose a role.")
        return data


class QualityForm(Prefixed, QualitySettingsForm):
    """The everyday quality settings. Ranges and PII types are checked by QualitySettingsForm;
    thresholds, custom rules and judges stay in the admin (JSON and endpoints)."""

    id_prefix = "quality"
    enabled_evaluators = forms.MultipleChoiceField(
        choices=[(name, name.replace("_", " ")) for name in EVALUATORS], widget=forms.CheckboxSelectMultiple,
        required=False, label="Evaluators",
        help_text="\"rules\" runs only when custom rules are set. Thresholds stay as configured.")
    redaction_types = forms.MultipleChoiceField(
        choices=[(name, name) for name in PII_TYPES], widget=forms.CheckboxSelectMultiple, required=False,
        label="PII types to redact", help_text="None ticked means all types.")
    # The model keeps JSON ({name: "higher" | "lower"}); people type a line per score.
    score_directions = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "helpfulness higher\nhallucination_rate lower"}),
        required=False, label="Score directions",
        help_text="Which way is better for the scores you send (by the name you send them with) and for "
                  "judges: one per line, the name then \"higher\" or \"lower\". The quality page sorts "
                  "prompt versions worst first by it. Unlisted scores: higher is better.")

    class Meta(QualitySettingsForm.Meta):
        fields = ["evaluate", "enabled_evaluators", "redaction", "redaction_types", "sample_rate", "max_lag_seconds",
                  "score_directions"]
        labels = {"evaluate": "Evaluate calls", "redaction": "PII redaction at ingest",
                  "sample_rate": "Sample rate", "max_lag_seconds": "Maximum evaluation lag (seconds)"}
        help_texts = {
            "evaluate": "Off: no call is queued for the evaluators (redaction still applies).",
            "redaction": "Applied before anything is stored; takes effect within seconds.",
            "sample_rate": "Share of model calls the evaluators score, from 0 to 1 (1 = every call).",
            "max_lag_seconds": "Empty: every sampled call is evaluated, however late. Otherwise, while the "
                               "evaluators lag further behind than this, new calls are sampled down (the limit "
                               "over the lag, at least 2%) and the others are marked skipped with the reason.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            overrides = self.instance.evaluators or {}
            self.initial["enabled_evaluators"] = [name for name in EVALUATORS
                                                  if (overrides.get(name) or {}).get("enabled", True) is not False]
            self.initial["score_directions"] = "\n".join(
                f"{name} {direction}" for name, direction in sorted((self.instance.score_directions or {}).items()))

    def clean_score_directions(self) -> dict[str, str]:
        directions: dict[str, str] = {}
        for number, line in enumerate(self.cleaned_data["score_directions"].splitlines(), start=1):
            if not line.strip():
                continue
            name, _, direction = line.strip().rpartition(" ")
            if not name.strip():
                raise forms.ValidationError(f"line {number}: a score name, a space, then \"higher\" or \"lower\"")
            directions[name.strip()] = direction.lower()
        errors = score_directions_validate(directions)
        if errors:
            raise forms.ValidationError(errors)
        return directions

    def save(self, commit: bool = True) -> Any:
        # Only "enabled" changes: thresholds and other overrides set in the admin are kept.
        enabled = set(self.cleaned_data["enabled_evaluators"])
        merged = {name: dict(config) for name, config in (self.instance.evaluators or {}).items()}
        for name in EVALUATORS:
            merged.setdefault(name, {})["enabled"] = name in enabled
        self.instance.evaluators = {name: config for name, config in merged.items() if config != {"enabled": True}}
        return super().save(commit=commit)


class RetentionForm(Prefixed, forms.Form):
    id_prefix = "retention"

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {name: getattr(project, f"retention_{name}") for name, _ in RETENTION_FIELDS})
        super().__init__(*args, **kwargs)
        for name, label in RETENTION_FIELDS:
            # At least a day: 0 would make the next purge delete everything of that kind.
            self.fields[name] = forms.IntegerField(
                label=label, required=False, min_value=1, max_value=36_500,
                help_text=f"Empty: the installation default, {settings.RETENTION_DEFAULTS[name]} days.")


class PriceForm(Prefixed, ModelPriceForm):
    """A project's own price. The pattern check is ModelPriceForm's."""

    id_prefix = "price"
    input_per_mtok = forms.DecimalField(min_value=0, max_digits=14, decimal_places=6,
                                        label="Input, $ per 1M tokens")
    output_per_mtok = forms.DecimalField(min_value=0, max_digits=14, decimal_places=6,
                                         label="Output, $ per 1M tokens")
    cached_input_per_mtok = forms.DecimalField(min_value=0, max_digits=14, decimal_places=6, required=False,
                                               label="Cached input, $ per 1M tokens",
                                               help_text="Empty: cached tokens cost the input price.")

    class Meta(ModelPriceForm.Meta):
        model = ModelPrice
        fields = ["model", "match_pattern", "provider", "input_per_mtok", "output_per_mtok", "cached_input_per_mtok",
                  "effective_date"]
        labels = {"model": "Model", "match_pattern": "Pattern (optional)", "provider": "Provider (optional)",
                  "effective_date": "Effective from (optional)"}
        help_texts = {
            "model": "As sent in calls; date suffixes and vendor prefixes are ignored (gpt-4o also prices "
                     "gpt-4o-2024-08-06 and openai/gpt-4o). With a pattern: a name for the group.",
            # pricing.catalog tries exact names (this project's, then shipped ones) before any pattern.
            "match_pattern": "A regular expression (e.g. ^house-) for models that have no price of their own, "
                             "neither here nor in the shipped table.",
            "provider": "Empty: any provider. Set it only to price one model differently per provider.",
            "effective_date": "Empty: today. Calls older than every price of a model use its earliest one.",
        }
        widgets = {"effective_date": forms.DateInput(attrs={"type": "date"})}

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.project = project
        self.fields["effective_date"].required = False

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        from django.utils import timezone

        model, provider = (data.get("model") or "").strip().lower(), (data.get("provider") or "").strip().lower()
        when = data.get("effective_date") or timezone.now().date()
        # The unique constraint names the project, which is not a form field, so Django cannot check it.
        if model and ModelPrice.objects.filter(project=self.project, provider=provider, model=model,
                                               effective_date=when).exists():
            self.add_error("model", f"This project already has a price for {model} from {when}; delete it first.")
        return data


class _OneUserPasswordEmail(PasswordResetForm):
    """Django's password-reset email, sent to one chosen account. The stock form skips accounts
    without a usable password, which is exactly what a new invitee has."""

    def __init__(self, user: AbstractBaseUser) -> None:
        super().__init__({"email": getattr(user, user.get_email_field_name())})
        self.user = user

    def get_users(self, email: str) -> Any:
        return [self.user]


def set_password_email_send(*, user: AbstractBaseUser, organization: Organization,
                            inviter: AbstractBaseUser) -> None:
    """Email a one-time link (the password-reset token, PASSWORD_RESET_TIMEOUT long) to choose a
    password. Links use SITE_URL, the public address, not the Host header of this request."""
    site = urlsplit(settings.SITE_URL)
    form = _OneUserPasswordEmail(user)
    form.is_valid()
    form.save(domain_override=site.netloc, use_https=site.scheme == "https",
              subject_template_name="dashboards/_settings_invite_subject.html",
              email_template_name="dashboards/_settings_invite_email.html",
              extra_email_context={"organization": organization.name, "inviter": inviter.get_username(),
                                   "days": max(1, settings.PASSWORD_RESET_TIMEOUT // 86400)})
