"""Project settings page: keys shown once, member role rules, quality, retention and price overrides,
and who may see and change what."""
from __future__ import annotations

import hashlib
import re
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client

from pricing.models import ModelPrice
from quality.models import QualitySettings
from telemetry.models import Call
from telemetry.services import project_process
from tenancy.models import ApiKey, Membership, Role
from tenancy.services import api_key_create, membership_set
from tests.conftest import Api, call_event, signed_in

pytestmark = pytest.mark.django_db


def url(project: Any, tail: str = "") -> str:
    return f"/projects/{project.id}/settings/{tail}"


def post_endpoints(project: Any) -> list[tuple[str, dict[str, Any]]]:
    """Every POST of the page with valid data, against objects of `project`."""
    key = api_key_create(project=project, scopes=["ingest"], name="k")
    price = ModelPrice.objects.create(project=project, model="m", input_per_mtok=1, output_per_mtok=1,
                                      effective_date=date(2026, 1, 1))
    target = Membership.objects.filter(organization=project.organization).exclude(role=Role.OWNER).first()
    return [
        (url(project, "keys/"), {"name": "x", "scopes": ["ingest"]}),
        (url(project, f"keys/{key.api_key.id}/revoke"), {}),
        (url(project, "members/"), {"identifier": "new@example.com", "role": "viewer"}),
        (url(project, f"members/{target.id}"), {"action": "role", "role": "viewer"}),
        (url(project, f"members/{target.id}"), {"action": "remove"}),
        (url(project, "quality/"), {"evaluate": "on", "redaction": "mask", "sample_rate": "0.5"}),
        (url(project, "retention/"), {"call_days": "7"}),
        (url(project, "prices/"), {"model": "x", "input_per_mtok": "1", "output_per_mtok": "2"}),
        (url(project, f"prices/{price.id}/delete"), {}),
    ]


def snapshot(project: Any) -> tuple[Any, ...]:
    project.refresh_from_db()
    return (sorted(ApiKey.objects.filter(project=project).values_list("id", "revoked_at")),
            sorted(Membership.objects.filter(organization=project.organization).values_list("id", "role")),
            QualitySettings.objects.filter(project=project).exists(), project.retention_call_days,
            sorted(ModelPrice.objects.filter(project=project).values_list("id", flat=True)))


# --- API keys ----------------------------------------------------------------------------------------

def test_owner_creates_a_key_that_is_shown_once_and_works(owner_client: Client, project: Any) -> None:
    response = owner_client.post(url(project, "keys/"), {"name": "backend", "scopes": ["ingest"]})
    assert response.status_code == 302 and response["Location"] == url(project) + "#keys"
    page = owner_client.get(url(project))
    assert "no-store" in page["Cache-Control"]
    raw = re.search(r'data-testid="new-key">([^<]+)<', page.content.decode()).group(1)
    stored = ApiKey.objects.get(project=project, name="backend")
    assert stored.hashed_key == hashlib.sha256(raw.encode()).hexdigest() and stored.scopes == ["ingest"]
    assert raw not in str([getattr(stored, f.attname) for f in ApiKey._meta.fields])
    assert raw not in str(owner_client.cookies) and "obs_new_key" not in owner_client.session
    again = owner_client.get(url(project)).content.decode()
    assert raw not in again and 'data-testid="new-key"' not in again
    assert f"{stored.prefix}…" in again and again.count('data-testid="key-row"') == 1
    assert Api(raw).ingest([call_event()]).status_code == 202


def test_revoked_key_is_refused_by_ingest(owner_client: Client, project: Any) -> None:
    issued = api_key_create(project=project, scopes=["ingest"], name="old")
    response = owner_client.post(url(project, f"keys/{issued.api_key.id}/revoke"))
    assert response.status_code == 302 and response["Location"].endswith("#keys")
    assert Api(issued.raw_key).ingest([call_event()]).status_code == 401
    html = owner_client.get(url(project)).content.decode()
    assert "is revoked" in html and "Revoked " in html and 'data-testid="revoke-key"' not in html


def test_revoking_a_key_of_another_project_is_404(owner_client: Client, project: Any, other_project: Any) -> None:
    foreign = api_key_create(project=other_project, scopes=["ingest"])
    assert owner_client.post(url(project, f"keys/{foreign.api_key.id}/revoke")).status_code == 404
    assert ApiKey.objects.get(pk=foreign.api_key.pk).revoked_at is None


def test_a_key_needs_a_scope(owner_client: Client, project: Any) -> None:
    response = owner_client.post(url(project, "keys/"), {"name": "x"})
    assert response.status_code == 400
    assert 'id="key_scopes_error"' in response.content.decode()
    assert not ApiKey.objects.filter(project=project).exists()


# --- Who may see and change what ------------------------------------------------------------------------

@pytest.mark.parametrize("who", ["member_client", "viewer_client"])
def test_members_and_viewers_see_a_read_only_page_without_keys(who: str, request: Any, project: Any) -> None:
    issued = api_key_create(project=project, scopes=["ingest"], name="secret-name")
    response = request.getfixturevalue(who).get(url(project) + "?price_model=house-model")
    html = response.content.decode()
    assert response.status_code == 200
    assert issued.api_key.prefix not in html and "secret-name" not in html and 'id="keys"' not in html
    assert f'action="{url(project)}' not in html  # no settings form at all
    assert 'data-testid="read-only"' in html and "owner@example.com" in html and 'data-testid="quality-summary"' in html
    assert "90 (installation default)" in html and 'data-testid="price-request"' in html


@pytest.mark.parametrize("who", ["member_client", "viewer_client"])
def test_members_and_viewers_get_403_on_every_post(who: str, request: Any, project: Any, viewer: Any) -> None:
    client = request.getfixturevalue(who)
    endpoints = post_endpoints(project)
    before = snapshot(project)
    for path, data in endpoints:
        assert client.post(path, data).status_code == 403, path
    assert snapshot(project) == before


def test_outsiders_get_404_on_the_page_and_every_post(outsider_client: Client, project: Any) -> None:
    endpoints = post_endpoints(project)
    before = snapshot(project)
    assert outsider_client.get(url(project)).status_code == 404
    for path, data in endpoints:
        assert outsider_client.post(path, data).status_code == 404, path
    assert snapshot(project) == before


def test_posts_need_a_csrf_token(owner: Any, project: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    assert client.post(url(project, "keys/"), {"name": "x", "scopes": ["ingest"]}).status_code == 403
    assert not ApiKey.objects.filter(project=project).exists()


# --- Members ---------------------------------------------------------------------------------------

def test_owner_adds_an_existing_account_by_username(owner_client: Client, project: Any, outsider: Any) -> None:
    response = owner_client.post(url(project, "members/"), {"identifier": "outsider", "role": "viewer"})
    assert response.status_code == 302 and response["Location"].endswith("#members")
    assert Membership.objects.get(organization=project.organization, user=outsider).role == Role.VIEWER
    assert mail.outbox == []  # they have a password already
    again = owner_client.post(url(project, "members/"), {"identifier": "OUT@example.com", "role": "member"})
    assert again.status_code == 400 and "already a member" in again.content.decode()


def test_a_new_email_gets_an_account_and_a_set_password_link(owner_client: Client, project: Any) -> None:
    response = owner_client.post(url(project, "members/"), {"identifier": "New.Person@Example.com", "role": "member"},
                                 follow=True)
    user = get_user_model().objects.get(email__iexact="new.person@example.com")
    assert not user.has_usable_password()
    assert Membership.objects.get(organization=project.organization, user=user).role == Role.MEMBER
    assert "email with a link to set a password was sent" in response.content.decode()
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [user.email]
    assert "Acme" in mail.outbox[0].subject
    link = re.search(r"https?://[^/\s]+(/accounts/reset/\S+)", mail.outbox[0].body).group(1)
    set_form = Client().get(link, follow=True)
    assert set_form.status_code == 200 and "Choose a new password" in set_form.content.decode()


def test_unknown_username_is_not_invited(owner_client: Client, project: Any) -> None:
    response = owner_client.post(url(project, "members/"), {"identifier": "nobody", "role": "member"})
    assert response.status_code == 400 and "give their email address" in response.content.decode()
    assert mail.outbox == []


@pytest.fixture
def admin_client(org: Any) -> Client:
    admin = get_user_model().objects.create_user("admin", "admin@example.com", "pw-admin-123")
    membership_set(organization=org, user=admin, role=Role.ADMIN)
    return signed_in(admin)


def test_admins_manage_members_but_not_owners(admin_client: Client, project: Any, owner: Any, member: Any) -> None:
    org = project.organization
    owner_row = Membership.objects.get(organization=org, user=owner)
    member_row = Membership.objects.get(organization=org, user=member)
    assert admin_client.post(url(project, f"members/{member_row.id}"), {"action": "role", "role": "viewer"}
                             ).status_code == 302
    member_row.refresh_from_db()
    assert member_row.role == Role.VIEWER
    refused = admin_client.post(url(project, f"members/{member_row.id}"), {"action": "role", "role": "owner"})
    assert refused.status_code == 403 and "Only owners" in refused.content.decode()
    assert admin_client.post(url(project, f"members/{owner_row.id}"), {"action": "role", "role": "admin"}
                             ).status_code == 403
    assert admin_client.post(url(project, f"members/{owner_row.id}"), {"action": "remove"}).status_code == 403
    assert admin_client.post(url(project, "members/"), {"identifier": "x@example.com", "role": "owner"}
                             ).status_code == 400  # "owner" is not even offered to an admin
    owner_row.refresh_from_db()
    assert owner_row.role == Role.OWNER and Membership.objects.filter(organization=org).count() == 3


def test_nobody_changes_their_own_role(owner_client: Client, project: Any, owner: Any) -> None:
    mine = Membership.objects.get(organization=project.organization, user=owner)
    response = owner_client.post(url(project, f"members/{mine.id}"), {"action": "role", "role": "admin"})
    assert response.status_code == 400 and "your own role" in response.content.decode()
    assert owner_client.post(url(project, f"members/{mine.id}"), {"action": "remove"}).status_code == 400
    mine.refresh_from_db()
    assert mine.role == Role.OWNER


def test_the_last_owner_stays(project: Any, owner: Any, member: Any) -> None:
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw-root-123")
    client = signed_in(root)  # a superuser acts as an owner without being a member
    mine = Membership.objects.get(organization=project.organization, user=owner)
    demote = client.post(url(project, f"members/{mine.id}"), {"action": "role", "role": "admin"})
    assert demote.status_code == 400 and "last owner" in demote.content.decode()
    assert client.post(url(project, f"members/{mine.id}"), {"action": "remove"}).status_code == 400
    other = Membership.objects.get(organization=project.organization, user=member)
    assert client.post(url(project, f"members/{other.id}"), {"action": "role", "role": "owner"}).status_code == 302
    assert client.post(url(project, f"members/{mine.id}"), {"action": "remove"}).status_code == 302
    assert list(Membership.objects.filter(organization=project.organization).values_list("role", flat=True)) == [
        Role.OWNER]


def test_owner_promotes_and_removes(owner_client: Client, project: Any, member: Any) -> None:
    row = Membership.objects.get(organization=project.organization, user=member)
    assert owner_client.post(url(project, f"members/{row.id}"), {"action": "role", "role": "owner"}).status_code == 302
    assert owner_client.post(url(project, f"members/{row.id}"), {"action": "remove"}).status_code == 302
    assert not Membership.objects.filter(pk=row.pk).exists()


def test_a_membership_of_another_organization_is_404(owner_client: Client, project: Any, other_project: Any) -> None:
    foreign = Membership.objects.get(organization=other_project.organization)
    assert owner_client.post(url(project, f"members/{foreign.id}"), {"action": "remove"}).status_code == 404
    assert Membership.objects.filter(pk=foreign.pk).exists()


# --- Quality and retention -------------------------------------------------------------------------

def test_quality_settings_persist_and_keep_thresholds(owner_client: Client, project: Any) -> None:
    QualitySettings.objects.create(project=project, evaluators={"groundedness": {"flag_below": 0.4}})
    on = ["pii", "groundedness", "relevance"]
    response = owner_client.post(url(project, "quality/"), {
        "evaluate": "on", "enabled_evaluators": on, "redaction": "mask", "redaction_types": ["email", "phone"],
        "sample_rate": "0.25"})
    assert response.status_code == 302 and response["Location"].endswith("#quality")
    row = QualitySettings.objects.get(project=project)
    assert row.redaction == "mask" and row.redaction_types == ["email", "phone"] and row.sample_rate == 0.25
    assert row.evaluators["groundedness"] == {"flag_below": 0.4, "enabled": True}
    assert row.evaluators["toxicity"] == {"enabled": False} and "pii" not in row.evaluators
    html = owner_client.get(url(project)).content.decode()
    assert re.search(r'value="toxicity"(?![^>]*checked)', html) and re.search(r'value="pii"[^>]*checked', html)


def test_score_directions_are_typed_a_line_per_score(owner_client: Client, viewer_client: Client,
                                                     project: Any) -> None:
    response = owner_client.post(url(project, "quality/"), {
        "evaluate": "on", "redaction": "off", "sample_rate": "1",
        "score_directions": "helpfulness higher\n\nhallucination rate  LOWER\n"})
    assert response.status_code == 302
    row = QualitySettings.objects.get(project=project)
    assert row.score_directions == {"helpfulness": "higher", "hallucination rate": "lower"}
    assert "hallucination rate lower\nhelpfulness higher</textarea>" in owner_client.get(url(project)).content.decode()
    assert "helpfulness: higher is better" in viewer_client.get(url(project)).content.decode()


def test_a_maximum_evaluation_lag_is_set_and_cleared(owner_client: Client, project: Any) -> None:
    data = {"evaluate": "on", "redaction": "off", "sample_rate": "1", "max_lag_seconds": "120"}
    assert owner_client.post(url(project, "quality/"), data).status_code == 302
    assert QualitySettings.objects.get(project=project).max_lag_seconds == 120
    assert re.search(r'name="max_lag_seconds" value="120"', owner_client.get(url(project)).content.decode())
    assert owner_client.post(url(project, "quality/"), {**data, "max_lag_seconds": ""}).status_code == 302
    assert QualitySettings.objects.get(project=project).max_lag_seconds is None


@pytest.mark.parametrize("data, message", [
    ({"redaction": "mask", "sample_rate": "1.5"}, "between 0 and 1"),
    ({"redaction": "off", "sample_rate": "1", "max_lag_seconds": "-5"}, "greater than or equal to 0"),
    ({"redaction": "off", "sample_rate": "1", "score_directions": "helpfulness up"}, "say &quot;higher&quot;"),
    ({"redaction": "off", "sample_rate": "1", "score_directions": "higher"}, "line 1: a score name"),
    ({"redaction": "mask", "sample_rate": "0.5", "redaction_types": ["shoe_size"]}, "not one of the available"),
    ({"redaction": "shout", "sample_rate": "0.5"}, "not one of the available"),
])
def test_bad_quality_settings_are_refused(owner_client: Client, project: Any, data: dict[str, Any],
                                          message: str) -> None:
    response = owner_client.post(url(project, "quality/"), data)
    assert response.status_code == 400 and message in response.content.decode()
    assert not QualitySettings.objects.filter(project=project).exists()


def test_retention_update_and_defaults(owner_client: Client, project: Any) -> None:
    html = owner_client.get(url(project)).content.decode()
    assert "installation default, 90 days" in html
    values = {"payload_days": "7", "call_days": "30", "hour_rollup_days": "", "day_rollup_days": ""}
    asked = owner_client.post(url(project, "retention/"), values)
    assert asked.status_code == 200 and 'data-testid="retention-confirm"' in asked.content.decode()
    project.refresh_from_db()
    assert project.retention_payload_days is None  # shorter: nothing saved before the confirmation
    response = owner_client.post(url(project, "retention/"), {**values, "confirm": "yes"})
    assert response.status_code == 302 and response["Location"].endswith("#retention")
    project.refresh_from_db()
    assert (project.retention_payload_days, project.retention_call_days, project.retention_hour_rollup_days) == (
        7, 30, None)
    longer = owner_client.post(url(project, "retention/"), {**values, "call_days": "60"})
    assert longer.status_code == 302  # keeping data longer deletes nothing: no question asked
    bad = owner_client.post(url(project, "retention/"), {"payload_days": "0", "call_days": "5"})
    assert bad.status_code == 400 and 'id="retention_payload_days_error"' in bad.content.decode()
    project.refresh_from_db()
    assert project.retention_call_days == 60


def test_shortening_retention_says_how_many_calls_it_deletes(owner_client: Client, project: Any) -> None:
    from django.utils import timezone

    from rollups.models import Rollup

    now = timezone.now()
    for days, calls in ((3, 5), (10, 1200), (40, 300), (200, 99)):  # 200 days: gone already (90 by default)
        Rollup.objects.create(project=project, grain="d", cube="total", kind="llm", bucket=now - timedelta(days=days),
                              calls=calls)
    Rollup.objects.create(project=project, grain="d", cube="model", kind="llm", model="m",
                          bucket=now - timedelta(days=10), calls=1200)  # the same calls in another cube
    html = owner_client.post(url(project, "retention/"), {"call_days": "7", "payload_days": "5"}).content.decode()
    assert 'data-testid="loss-call_days">1.5k calls</strong>' in html  # 1,200 + 300
    assert 'data-testid="loss-payload_days">1.2k calls</strong>' in html  # 30 -> 5 days: the 10-day-old
    assert "Calls, scores and feedback (days): 90 → 7 days deletes about" in html
    assert "inputs and outputs of about" in html
    project.refresh_from_db()
    assert project.retention_call_days is None


# --- Prices --------------------------------------------------------------------------------------

def test_a_price_override_prices_new_calls(owner_client: Client, project: Any, full_api: Api, prices: None) -> None:
    form = owner_client.get(url(project) + "?price_model=house-model").content.decode()
    assert re.search(r'name="model"[^>]*value="house-model"', form)
    response = owner_client.post(url(project, "prices/"), {
        "model": "House-Model", "input_per_mtok": "2", "output_per_mtok": "10", "cached_input_per_mtok": "0.5"},
        follow=True)
    html = response.content.decode()
    assert html.count('data-testid="price-row"') == 1 and "house-model" in html
    assert f"recompute_costs --project {project.id} --from" in html and "rebuild_rollups --project" in html
    event = call_event(1, provider="acme", model="house-model",
                       usage={"input_tokens": 1000, "output_tokens": 100, "cached_input_tokens": 200})
    assert full_api.ingest([event]).status_code == 202
    project_process(project_id=project.id)
    call = Call.objects.get(project=project, external_id="call-1")
    # 800 uncached * 2 + 200 cached * 0.5 + 100 output * 10, per million tokens
    assert call.cost_source == "computed" and call.cost_total_usd == Decimal("0.0027")


def test_price_overrides_are_validated(owner_client: Client, project: Any) -> None:
    ModelPrice.objects.create(project=project, model="m", input_per_mtok=1, output_per_mtok=1,
                              effective_date=date(2026, 1, 1))
    cases = [
        ({"model": "x", "match_pattern": "(", "input_per_mtok": "1", "output_per_mtok": "1"}, "Not a valid regular"),
        ({"model": "x", "input_per_mtok": "-1", "output_per_mtok": "1"}, "greater than or equal to 0"),
        ({"model": "M", "input_per_mtok": "1", "output_per_mtok": "1", "effective_date": "2026-01-01"},
         "already has a price"),
    ]
    for data, message in cases:
        response = owner_client.post(url(project, "prices/"), data)
        assert response.status_code == 400 and message in response.content.decode(), data
    assert ModelPrice.objects.filter(project=project).count() == 1


def test_price_delete(owner_client: Client, project: Any, other_project: Any, prices: None) -> None:
    mine = ModelPrice.objects.create(project=project, model="m", input_per_mtok=1, output_per_mtok=1,
                                     effective_date=date(2026, 1, 1))
    foreign = ModelPrice.objects.create(project=other_project, model="m", input_per_mtok=1, output_per_mtok=1,
                                        effective_date=date(2026, 1, 1))
    shipped = ModelPrice.objects.filter(project=None).first()
    assert owner_client.post(url(project, f"prices/{foreign.id}/delete")).status_code == 404
    assert owner_client.post(url(project, f"prices/{shipped.id}/delete")).status_code == 404
    response = owner_client.post(url(project, f"prices/{mine.id}/delete"))
    assert response.status_code == 302 and response["Location"].endswith("#prices")
    assert not ModelPrice.objects.filter(pk=mine.pk).exists()
    assert ModelPrice.objects.filter(pk__in=[foreign.pk, shipped.pk]).count() == 2


def test_get_on_a_post_endpoint_is_refused(owner_client: Client, project: Any) -> None:
    assert owner_client.get(url(project, "keys/")).status_code == 405


def test_a_pattern_price_covers_unpriced_models(owner_client: Client, project: Any, full_api: Api) -> None:
    response = owner_client.post(url(project, "prices/"), {
        "model": "house models", "match_pattern": "^house-", "input_per_mtok": "1", "output_per_mtok": "1"})
    assert response.status_code == 302
    full_api.ingest([call_event(1, model="house-large", usage={"input_tokens": 10**6, "output_tokens": 0})])
    project_process(project_id=project.id)
    assert Call.objects.get(project=project, external_id="call-1").cost_total_usd == Decimal(1)


def test_a_refused_form_says_so_and_lands_on_its_panel(owner_client: Client, project: Any) -> None:
    html = owner_client.get(url(project)).content.decode()
    assert f'action="{url(project, "retention/")}#retention"' in html
    response = owner_client.post(url(project, "retention/"), {"call_days": "abc"})
    assert response.status_code == 400 and "Nothing was saved: see Retention below." in response.content.decode()


# --- Judges and custom rules -----------------------------------------------------------------------

JUDGE = {"name": "tone", "enabled": "on", "template": "custom", "criterion": "Polite and brief.",
         "base_url": "http://judge.internal:11434/v1", "api_key_env": "OBSERVATORY_JUDGE_KEY_LOCAL",
         "model": "llama3", "temperature": "0", "threshold": "0.5", "sample_rate": "0.25",
         "only_models": "gpt-4o-mini, claude", "only_features": "", "only_prompt_names": "",
         "daily_budget_usd": "2.5", "timeout_s": "20", "max_retries": "2"}


def test_an_admin_adds_edits_and_deletes_a_judge_in_settings(admin_client: Client, project: Any) -> None:
    from quality.models import Judge

    response = admin_client.post(url(project, "judges/"), JUDGE)
    assert response.status_code == 302 and response["Location"].endswith("#judges")
    judge = Judge.objects.get(project=project, name="tone")
    assert (judge.model, judge.sample_rate, judge.only_models) == ("llama3", 0.25, ["gpt-4o-mini", "claude"])
    form = admin_client.get(url(project) + f"?judge={judge.pk}").content.decode()
    assert "Edit judge.tone" in form and 'value="llama3"' in form
    assert admin_client.post(url(project, f"judges/{judge.pk}"), {**JUDGE, "model": "qwen"}).status_code == 302
    judge.refresh_from_db()
    assert judge.model == "qwen"
    twin = admin_client.post(url(project, "judges/"), JUDGE)
    assert twin.status_code == 400 and "already has a judge named tone" in twin.content.decode()
    bad = admin_client.post(url(project, "judges/"), {**JUDGE, "name": "x", "criterion": "", "threshold": "3",
                                                     "api_key_env": "DATABASE_URL"})
    html = bad.content.decode()
    assert bad.status_code == 400 and "between 0 and 1" in html and "the custom template needs a criterion" in html
    assert admin_client.post(url(project, f"judges/{judge.pk}/delete")).status_code == 302
    assert not Judge.objects.filter(project=project).exists()


def test_custom_rules_are_edited_in_settings_and_checked(owner_client: Client, member_client: Client,
                                                         project: Any) -> None:
    rules = '[{"name": "competitor", "pattern": "acme|globex", "kind": "regex", "target": "output", "severity": "medium"}]'
    assert owner_client.post(url(project, "rules/"), {"rules": rules}).status_code == 302
    assert QualitySettings.objects.get(project=project).rules[0]["name"] == "competitor"
    bad = owner_client.post(url(project, "rules/"), {"rules": '[{"name": "x", "pattern": "(", "kind": "regex"}]'})
    assert bad.status_code == 400
    assert QualitySettings.objects.get(project=project).rules[0]["name"] == "competitor"
    assert member_client.post(url(project, "rules/"), {"rules": "[]"}).status_code == 403
    assert member_client.post(url(project, "judges/"), JUDGE).status_code == 403
