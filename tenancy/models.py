"""Organizations own projects; people are members with a role; projects have API keys."""
from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models


class Organization(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"
    VIEWER = "viewer", "Viewer"


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # One role per person per organization; also serves "is this user a member of org X".
            models.UniqueConstraint(fields=["user", "organization"], name="membership_user_org_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"


class Project(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="projects")
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)
    # Retention per project; empty means the installation default (docs/configuration.md).
    retention_payload_days = models.PositiveIntegerField(null=True, blank=True,
                                                         help_text="Days inputs/outputs/context are kept")
    retention_call_days = models.PositiveIntegerField(null=True, blank=True,
                                                      help_text="Days raw calls, scores and feedback are kept")
    retention_hour_rollup_days = models.PositiveIntegerField(null=True, blank=True,
                                                             help_text="Days hourly buckets are kept")
    retention_day_rollup_days = models.PositiveIntegerField(null=True, blank=True,
                                                            help_text="Days daily buckets are kept")

    class Meta:
        constraints = [
            # Projects are addressed by org + slug in URLs and management commands.
            models.UniqueConstraint(fields=["organization", "slug"], name="project_org_slug_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.organization.slug}/{self.slug}"

    def retention(self, name: str) -> int:
        """This project's retention for `name` (e.g. "payload_days"), or the installation default."""
        from django.conf import settings

        value = getattr(self, f"retention_{name}")
        return value if value is not None else settings.RETENTION_DEFAULTS[name]


class Scope(models.TextChoices):
    INGEST = "ingest", "Ingest"
    READ = "read", "Read"
    PROMPTS = "prompts", "Prompts"  # create prompt versions, move labels, run experiments (prompts/)
    ALERTS = "alerts", "Alerts"  # read and change alert rules, channels, silences, incidents (alerts/)


class ApiKey(models.Model):
    """A project key. Only its SHA-256 is stored; `prefix` lets people tell keys apart."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=16)
    hashed_key = models.CharField(max_length=64, unique=True)  # the lookup on every API request
    scopes = ArrayField(models.CharField(max_length=16, choices=Scope.choices), default=list)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.prefix}… ({', '.join(self.scopes)})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes
