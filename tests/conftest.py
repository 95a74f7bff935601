"""Shared fixtures: an organization with an owner, a member and an outsider, two projects, keys."""
from __future__ import annotations

import gzip
import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client

from pricing.services import prices_load
from tenancy.models import Role
from tenancy.services import api_key_create, membership_set, organization_create, project_create


def pytest_configure(config: pytest.Config) -> None:
    from django.conf import settings

    # PBKDF2's 1M iterations cost ~0.4 s per user; tests create several users each.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _clean_cache() -> None:
    cache.clear()


@pytest.fixture
def prices(db: Any) -> None:
    prices_load()


@pytest.fixture
def owner(db: Any) -> Any:
    return get_user_model().objects.create_user("owner", "owner@example.com", "pw-owner-123")


@pytest.fixture
def member(db: Any) -> Any:
    return get_user_model().objects.create_user("member", "member@example.com", "pw-member-123")


@pytest.fixture
def outsider(db: Any) -> Any:
    return get_user_model().objects.create_user("outsider", "out@example.com", "pw-outsider-123")


@pytest.fixture
def org(owner: Any, member: Any) -> Any:
    organization = organization_create(name="Acme", owner=owner)
    membership_set(organization=organization, user=member, role=Role.MEMBER)
    return organization


@pytest.fixture
def project(org: Any) -> Any:
    return project_create(organization=org, name="Support bot")


@pytest.fixture
def other_project(outsider: Any) -> Any:
    other_org = organization_create(name="Other Co", owner=outsider)
    return project_create(organization=other_org, name="Elsewhere")


@pytest.fixture
def ingest_key(project: Any) -> str:
    return api_key_create(project=project, scopes=["ingest"]).raw_key


@pytest.fixture
def read_key(project: Any) -> str:
    return api_key_create(project=project, scopes=["read"]).raw_key


@pytest.fixture
def full_key(project: Any) -> str:
    return api_key_create(project=project, scopes=["ingest", "read"]).raw_key


# Signed-in clients, one per role of the organization (the pages' and the apps' tests share them).


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def viewer(db: Any, org: Any) -> Any:
    user = get_user_model().objects.create_user("viewer", "viewer@example.com", "pw-viewer-123")
    membership_set(organization=org, user=user, role=Role.VIEWER)
    return user


@pytest.fixture
def admin_user(db: Any, org: Any) -> Any:
    user = get_user_model().objects.create_user("admin", "admin@example.com", "pw-admin-123")
    membership_set(organization=org, user=user, role=Role.ADMIN)
    return user


@pytest.fixture
def owner_client(owner: Any) -> Client:
    return signed_in(owner)


@pytest.fixture
def admin_client(admin_user: Any) -> Client:
    return signed_in(admin_user)


@pytest.fixture
def member_client(member: Any) -> Client:
    return signed_in(member)


@pytest.fixture
def viewer_client(viewer: Any) -> Client:
    return signed_in(viewer)


@pytest.fixture
def outsider_client(outsider: Any) -> Client:
    return signed_in(outsider)


class Api:
    """A test client speaking the API with a project key."""

    def __init__(self, key: str | None) -> None:
        self.key = key
        self.client = Client()

    def _auth(self, headers: dict[str, str]) -> dict[str, str]:
        if self.key and "HTTP_AUTHORIZATION" not in headers and "HTTP_X_API_KEY" not in headers:
            headers["HTTP_AUTHORIZATION"] = f"Bearer {self.key}"
        return headers

    def ingest(self, events: list[dict[str, Any]] | None = None, *, raw: bytes | None = None, gzip_body: bool = False,
               content_type: str = "application/json", **headers: str) -> Any:
        body = raw if raw is not None else json.dumps({"events": events}).encode()
        if gzip_body:
            body = gzip.compress(body)
            headers["HTTP_CONTENT_ENCODING"] = "gzip"
        return self.client.post("/api/v1/ingest", data=body, content_type=content_type, **self._auth(headers))

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(path, params, **self._auth({}))


@pytest.fixture
def api(ingest_key: str) -> Api:
    return Api(ingest_key)


@pytest.fixture
def reader(read_key: str) -> Api:
    return Api(read_key)


@pytest.fixture
def full_api(full_key: str) -> Api:
    return Api(full_key)


def call_event(i: int = 1, **fields: Any) -> dict[str, Any]:
    event = {"type": "call", "id": f"call-{i}", "trace_id": "trace-1", "timestamp": "2026-11-20T10:00:00Z",
             "latency_ms": 500 + i, "provider": "openai", "model": "gpt-4o-mini", "input": "question",
             "output": "answer", "usage": {"input_tokens": 100, "output_tokens": 20}}
    event.update(fields)
    return event


@pytest.fixture(scope="session")
def browser() -> Any:
    """One headless Chromium for the whole run, shared by every browser test module: Playwright's
    sync API keeps an event loop running in this thread while it is open, so a second
    `sync_playwright()` next to it fails ("Sync API inside the asyncio loop"). Debian's chromium
    (/usr/bin/chromium, or OBSERVATORY_CHROMIUM); no browser is ever downloaded."""
    import os
    from pathlib import Path

    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # the ORM beside Playwright's loop
    from playwright.sync_api import expect, sync_playwright

    # Assertions retry until they hold: 15 s instead of Playwright's 5 s, because CI runs the suite
    # on 2 cores where one htmx swap has been seen to take longer than 5 s; a passing test is no slower.
    expect.set_options(timeout=15_000)
    chromium = os.environ.get("OBSERVATORY_CHROMIUM", "/usr/bin/chromium")
    if not Path(chromium).exists():
        pytest.fail(f"Browser tests need Debian's chromium at {chromium}: `apt-get install chromium` "
                    "(python3 dev.py test installs it when run as root), or set OBSERVATORY_CHROMIUM.")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, headless=True)
        yield launched
        launched.close()
