"""The audit log's writes: an entry for every wired change, with before and after values, in the
change's transaction, never holding a secret; and the database refusing to change or delete one."""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection, transaction

from audit.models import ActorKind, AuditEntry
from audit.services import NotInTransaction, audit_record, mask_url, scrub
from pricing.services import price_override_create, price_override_delete
from quality.models import Judge, QualitySettings
from quality.services import judge_delete, judge_save, quality_settings_save
from tenancy.models import Membership, Role
from tenancy.services import (
    api_key_create,
    api_key_rename,
    api_key_revoke,
    membership_add,
    membership_remove,
    membership_role_change,
    project_create,
    project_retention_update,
    project_settings_update,
)


def last(action: str) -> AuditEntry:
    return AuditEntry.objects.filter(action=action).latest("id")


def audit_text() -> str:
    """Every audit row as JSON text, for "this never appears anywhere" checks."""
    with connection.cursor() as cur:
        cur.execute("SELECT COALESCE(string_agg(row_to_json(a)::text, ' '), '') FROM audit_auditentry a")
        return cur.fetchone()[0]


def test_a_key_created_and_revoked_is_audited_without_its_secret(project: Any, owner: Any) -> None:
    issued = api_key_create(project=project, scopes=["read", "ingest"], name="ci", created_by=owner)
    created = last("api_key.created")
    assert (created.actor_kind, created.actor_user_id, created.actor_label) == (ActorKind.USER, owner.id, "owner")
    assert created.project_id == project.id and created.organization_id == project.organization_id
    assert created.target_id == str(issued.api_key.id) and created.before is None
    assert created.after == {"name": "ci", "prefix": issued.api_key.prefix, "scopes": ["ingest", "read"]}
    api_key_revoke(api_key=issued.api_key, actor=owner)
    api_key_revoke(api_key=issued.api_key, actor=owner)  # already revoked: no second entry
    revoked = AuditEntry.objects.filter(action="api_key.revoked")
    assert revoked.count() == 1
    assert revoked[0].before == {"revoked_at": None} and revoked[0].after["revoked_at"]
    text = audit_text()
    assert issued.raw_key not in text and issued.api_key.hashed_key not in text


def test_a_key_renamed_in_the_admin_records_the_old_name(project: Any, owner: Any) -> None:
    key = api_key_create(project=project, scopes=["read"], name="old").api_key
    key.name = "new"  # as the admin form leaves it before saving
    api_key_rename(api_key=key, name="new", actor=owner)
    entry = last("api_key.renamed")
    assert (entry.before, entry.after) == ({"name": "old"}, {"name": "new"})


def test_members_added_promoted_and_removed_are_audited(org: Any, owner: Any, outsider: Any) -> None:
    added = membership_add(organization=org, identifier="outsider", role=Role.VIEWER, actor=owner)
    entry = last("membership.added")
    assert entry.project_id is None and entry.organization_id == org.id
    assert entry.after == {"user": "outsider", "role": "viewer", "new_account": False}
    membership_role_change(membership=added.membership, role=Role.ADMIN, actor=owner)
    entry = last("membership.role_changed")
    assert (entry.before, entry.after, entry.target_label) == ({"role": "viewer"}, {"role": "admin"}, "outsider")
    membership_remove(membership=Membership.objects.get(pk=added.membership.pk), actor=owner)
    entry = last("membership.removed")
    assert entry.before == {"user": "outsider", "role": "admin"} and entry.after is None


def test_a_refused_change_leaves_no_entry(org: Any, owner: Any) -> None:
    own = Membership.objects.get(organization=org, user=owner)
    count = AuditEntry.objects.count()
    with pytest.raises(ValueError):
        membership_role_change(membership=own, role=Role.VIEWER, actor=owner)
    assert AuditEntry.objects.count() == count


def test_a_rolled_back_change_leaves_no_entry(project: Any) -> None:
    count = AuditEntry.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        api_key_create(project=project, scopes=["read"])
        raise RuntimeError("the surrounding work failed")
    assert AuditEntry.objects.count() == count


def test_retention_records_only_what_changed(project: Any, owner: Any) -> None:
    project_retention_update(project=project, payload_days=7, call_days=None, hour_rollup_days=None,
                             day_rollup_days=None, actor=owner)
    entry = last("retention.changed")
    assert (entry.before, entry.after) == ({"payload_days": None}, {"payload_days": 7})
    count = AuditEntry.objects.count()
    project_retention_update(project=project, payload_days=7, call_days=None, hour_rollup_days=None,
                             day_rollup_days=None, actor=owner)
    assert AuditEntry.objects.count() == count  # nothing changed, nothing recorded


def test_project_created_and_renamed(org: Any, owner: Any) -> None:
    project = project_create(organization=org, name="New one", actor=owner)
    assert last("project.created").after == {"name": "New one", "slug": "new-one"}
    project_settings_update(project=project, name="Renamed", actor=owner)
    entry = last("project.settings_changed")
    assert (entry.before, entry.after) == ({"name": "New one"}, {"name": "Renamed"})


def test_price_overrides_set_and_deleted(project: Any, owner: Any) -> None:
    price = price_override_create(project=project, model="GPT-X", input_per_mtok=Decimal("1.5"),
                                  output_per_mtok=Decimal("6"), effective_date=date(2026, 1, 1), actor=owner)
    entry = last("price.override_set")
    assert entry.before is None
    assert entry.after["model"] == "gpt-x" and entry.after["input_per_mtok"] == "1.5"
    assert entry.after["effective_date"] == "2026-01-01"
    price_override_delete(price=price, actor=owner)
    entry = last("price.override_deleted")
    assert entry.before["output_per_mtok"] == "6" and entry.after is None


def test_evaluator_settings_record_the_changed_fields(project: Any, owner: Any) -> None:
    row = QualitySettings(project=project, sample_rate=0.5, evaluators={"pii": {"enabled": False}})
    quality_settings_save(settings_row=row, actor=owner)
    entry = last("evaluator.changed")
    assert entry.before == {"sample_rate": 1.0, "evaluators": {}}
    assert entry.after == {"sample_rate": 0.5, "evaluators": {"pii": {"enabled": False}}}


def test_judges_are_audited_with_credentials_masked(project: Any, owner: Any) -> None:
    judge = Judge(project=project, name="helpful", base_url="https://bob:sk-live-SECRET@llm.example/v1?key=SECRET2",
                  api_key_env="OBSERVATORY_JUDGE_KEY_OPENAI", model="gpt-4o-mini")
    judge_save(judge=judge, actor=owner)
    created = last("judge.created")
    assert created.after["base_url"] == "https://••••••@llm.example/v1?key=••••••"
    assert created.after["api_key_env"] == "OBSERVATORY_JUDGE_KEY_OPENAI"  # a variable's name, not the key
    judge.threshold = 0.7
    judge_save(judge=judge, actor=owner)
    assert (last("judge.changed").before, last("judge.changed").after) == ({"threshold": 0.5}, {"threshold": 0.7})
    judge_delete(judge=judge, actor=owner)
    assert last("judge.deleted").before["name"] == "helpful"
    assert "SECRET" not in audit_text()


def test_scrub_masks_secrets_whatever_the_caller_passes() -> None:
    raw = "obs_" + "A" * 40
    cleaned = scrub({"hashed_key": "abc", "password": "pw", "token": "t", "note": f"key {raw} here",
                     "nested": [{"api_key": "k"}], "max_tokens": 5, "empty_secret": ""})
    assert cleaned["hashed_key"] == cleaned["password"] == cleaned["token"] == "••••••"
    assert raw not in cleaned["note"] and cleaned["nested"][0]["api_key"] == "••••••"
    assert cleaned["max_tokens"] == 5 and cleaned["empty_secret"] == ""
    assert mask_url("http://ollama:11434/v1") == "http://ollama:11434/v1"


def test_system_and_key_actors(project: Any) -> None:
    issued = api_key_create(project=project, scopes=["ingest"])  # a command: no person
    assert last("api_key.created").actor_label == "system"
    with transaction.atomic():
        audit_record(actor="retention_purge", action="retention.changed", organization=project.organization_id,
                     project=project)
        audit_record(actor=issued.api_key, action="end_user.erased", organization=project.organization_id,
                     project=project)
    assert last("retention.changed").actor_label == "system:retention_purge"
    entry = last("end_user.erased")
    assert entry.actor_kind == ActorKind.API_KEY and entry.actor_api_key_id == issued.api_key.id
    assert issued.raw_key not in entry.actor_label


def test_the_database_refuses_to_change_or_delete_entries(project: Any) -> None:
    api_key_create(project=project, scopes=["read"])
    entry = last("api_key.created")
    for attempt in (lambda: AuditEntry.objects.filter(pk=entry.pk).update(action="nothing.happened"),
                    lambda: AuditEntry.objects.filter(pk=entry.pk).delete(),
                    lambda: connection.cursor().execute("DELETE FROM audit_auditentry")):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            attempt()
    entry.refresh_from_db()
    assert entry.action == "api_key.created"


def test_deleting_a_project_or_a_user_keeps_its_history(org: Any, owner: Any) -> None:
    temp = get_user_model().objects.create_user("temp")
    project = project_create(organization=org, name="Short-lived", actor=temp)
    project_id = project.id
    project.delete()
    temp.delete()
    entry = AuditEntry.objects.get(action="project.created", project_id=project_id)
    assert entry.actor_label == "temp"


@pytest.mark.django_db(transaction=True)
def test_audit_record_outside_a_transaction_is_refused(project: Any) -> None:
    with pytest.raises(NotInTransaction):
        audit_record(actor="x", action="test.outside", organization=project.organization_id, project=project)
    assert not AuditEntry.objects.filter(action="test.outside").exists()


def test_members_changed_in_the_admin_are_audited(org: Any, owner: Any, member: Any, outsider: Any) -> None:
    from django.test import Client

    owner.is_staff = owner.is_superuser = True
    owner.save()
    client = Client()
    client.force_login(owner)
    memberships = list(Membership.objects.filter(organization=org).order_by("pk"))
    data = {"name": org.name, "slug": org.slug, "memberships-TOTAL_FORMS": len(memberships) + 1,
            "memberships-INITIAL_FORMS": len(memberships), "memberships-MIN_NUM_FORMS": 0,
            "memberships-MAX_NUM_FORMS": 1000}
    for i, m in enumerate(memberships):
        data |= {f"memberships-{i}-id": m.pk, f"memberships-{i}-organization": org.pk,
                 f"memberships-{i}-user": m.user_id, f"memberships-{i}-role": m.role}
        if m.user_id == member.pk:
            data[f"memberships-{i}-role"] = Role.ADMIN
    n = len(memberships)
    data |= {f"memberships-{n}-organization": org.pk, f"memberships-{n}-user": outsider.pk,
             f"memberships-{n}-role": Role.VIEWER}
    response = client.post(f"/admin/tenancy/organization/{org.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    changed_role = last("membership.role_changed")
    assert (changed_role.before, changed_role.after, changed_role.actor_label) == (
        {"role": "member"}, {"role": "admin"}, "owner")
    assert last("membership.added").after == {"user": "outsider", "role": "viewer"}
