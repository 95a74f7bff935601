"""Admin for tenancy. API keys are created here (shown once) and revoked, never edited."""
from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest

from tenancy.models import ApiKey, Membership, Organization, Project, Scope
from tenancy.services import api_key_create, api_key_rename, api_key_revoke, project_settings_update


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        # Members and roles changed here are audited like those changed on the settings page (the
        # admin's change view runs in one transaction, the entries with it).
        if formset.model is not Membership:
            super().save_formset(request, form, formset, change)
            return
        from audit.services import audit_record

        before = {m.pk: m.role for m in Membership.objects.filter(organization=form.instance)}
        doomed = [(f.instance.pk, f.instance.user.get_username()) for f in formset.deleted_forms if f.instance.pk]
        super().save_formset(request, form, formset, change)
        for pk, username in doomed:  # deleted objects have lost their pk by now
            audit_record(actor=request.user, action="membership.removed", organization=form.instance,
                         target_type="membership", target_id=pk, target_label=username,
                         before={"user": username, "role": before.get(pk)})
        for membership in formset.new_objects:
            audit_record(actor=request.user, action="membership.added", organization=form.instance,
                         target_type="membership", target_id=membership.pk,
                         target_label=membership.user.get_username(),
                         after={"user": membership.user.get_username(), "role": membership.role})
        for membership, _ in formset.changed_objects:
            if before.get(membership.pk) != membership.role:
                audit_record(actor=request.user, action="membership.role_changed", organization=form.instance,
                             target_type="membership", target_id=membership.pk,
                             target_label=membership.user.get_username(),
                             before={"role": before.get(membership.pk)}, after={"role": membership.role})


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "organization", "id", "created_at"]
    list_filter = ["organization"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}

    def save_model(self, request: HttpRequest, obj: Project, form: Any, change: bool) -> None:
        # Through the service, so the change is audited (only the fields the form changed).
        if change:
            project_settings_update(project=obj, actor=request.user,
                                    **{name: getattr(obj, name) for name in form.changed_data})
            return
        from django.db import transaction

        from audit.services import audit_record

        with transaction.atomic():
            super().save_model(request, obj, form, change)
            audit_record(actor=request.user, action="project.created", organization=obj.organization_id,
                         project=obj, target_type="project", target_id=obj.pk, target_label=obj.name,
                         after={"name": obj.name, "slug": obj.slug})


class ApiKeyCreateForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(choices=Scope.choices, widget=forms.CheckboxSelectMultiple,
                                       initial=[Scope.INGEST])

    class Meta:
        model = ApiKey
        fields = ["project", "name", "scopes"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["prefix", "name", "project", "scopes", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["project", "revoked_at"]
    readonly_fields = ["prefix", "scopes", "created_by", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = ApiKeyCreateForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return ["project", "name", "scopes"]
        return ["project", "name", "prefix", "scopes", "created_by", "created_at", "last_used_at", "revoked_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [*self.readonly_fields, "project"] if obj is not None else []

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        if change:
            api_key_rename(api_key=obj, name=obj.name, actor=request.user)  # audited
            return
        issued = api_key_create(project=form.cleaned_data["project"], scopes=form.cleaned_data["scopes"],
                                name=form.cleaned_data["name"], created_by=request.user)
        obj.pk = issued.api_key.pk
        messages.warning(request, f"New API key (copy it now, it will not be shown again): {issued.raw_key}")

    @admin.action(description="Revoke selected keys")
    def revoke(self, request: HttpRequest, queryset: Any) -> None:
        for api_key in queryset:
            api_key_revoke(api_key=api_key, actor=request.user)
        messages.success(request, f"Revoked {queryset.count()} key(s).")
