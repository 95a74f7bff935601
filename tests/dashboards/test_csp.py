"""Content-Security-Policy on every page, and no inline script left for it to block: every
dashboards page (walked for a signed-in owner with seeded data), the sign-in and reset pages, the
admin and the API docs. The same pages in a real browser: tests/dashboards/test_browser_csp.py."""
from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def seeded_pages(project_id: int) -> list[str]:
    p = f"/projects/{project_id}"
    return ["/", f"{p}/", f"{p}/?range=7d&model=gpt-4o-mini", f"{p}/start/", f"{p}/cost/", f"{p}/latency/",
            f"{p}/quality/", f"{p}/calls/", f"{p}/calls/?status=error", f"{p}/calls/xss-call", f"{p}/calls/agent-llm",
            f"{p}/traces/trace-agent", f"{p}/people/", f"{p}/users/user-1", f"{p}/sessions/s-1", f"{p}/settings/",
            "/api/docs/", "/api/redoc/", "/api-auth/login/"]


ANONYMOUS_PAGES = ["/accounts/login/", "/accounts/password_reset/", "/accounts/password_reset/done/",
                   "/accounts/reset/done/", "/admin/login/", "/api/docs/", "/api/redoc/"]


def directives(response: Any) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


class InlineCode(HTMLParser):
    """Collects what a CSP without 'unsafe-inline' would block: <script> without src (other than
    JSON data blocks), on*= handler attributes, javascript: URLs, and htmx attributes that eval."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "script" and not attributes.get("src") and attributes.get("type") != "application/json":
            self.found.append(f"inline <script {attrs}>")
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}={value!r}>")
            if name.startswith(("hx-on", "data-hx-on")) or (value or "").strip().lower().startswith(("javascript:", "js:")):
                self.found.append(f"<{tag} {name}={value!r}>")
            if name == "hx-trigger" and "[" in (value or ""):
                self.found.append(f"<{tag} hx-trigger filter {value!r}> (htmx evals it)")


def inline_code(html: str) -> list[str]:
    parser = InlineCode()
    parser.feed(html)
    return parser.found


def assert_strict_policy(response: Any, path: str) -> None:
    policy = directives(response)
    assert policy["script-src"] == ["'self'"], path
    assert policy["object-src"] == ["'none'"], path
    assert policy["base-uri"] == ["'self'"], path
    assert policy["form-action"] == ["'self'"], path
    assert policy["frame-ancestors"] == ["'none'"], path
    assert policy["default-src"] == ["'self'"], path
    assert "'unsafe-eval'" not in response["Content-Security-Policy"], path


def test_every_signed_in_page_has_the_policy_and_no_inline_script(owner_client: Client, seeded: Any) -> None:
    for path in seeded_pages(seeded.id):
        response = owner_client.get(path, follow=True)
        assert response.status_code == 200, (path, response.status_code)
        assert response["Content-Type"].startswith("text/html"), path
        assert_strict_policy(response, path)
        assert inline_code(response.content.decode()) == [], path


def _routes(patterns: list[Any], prefix: str = "") -> list[str]:
    """Every route of the URLconf as a path template ("projects/<int:project_id>/cost/")."""
    from django.urls import URLPattern, URLResolver

    found: list[str] = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            found += _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            found.append(prefix + str(pattern.pattern))
    return found


def test_every_page_in_the_urlconf_has_the_policy_and_no_inline_script(owner: Any, seeded: Any) -> None:
    """Pages added later (any app) are covered without being listed: every route that needs no
    parameter, or only the project id, is fetched; each HTML page it answers is checked. A page
    that fails is left to its own tests (this one is about the policy)."""
    from django.urls import get_resolver

    owner_client = Client(raise_request_exception=False)
    owner_client.force_login(owner)
    checked = 0
    for route in _routes(get_resolver().url_patterns):
        if route.startswith(("admin/", "^")) or "(?P" in route:
            continue
        path = "/" + route.replace("<int:project_id>", str(seeded.id))
        if "<" in path:
            continue
        response = owner_client.get(path)
        if response.status_code != 200 or not response.get("Content-Type", "").startswith("text/html"):
            continue
        checked += 1
        assert_strict_policy(response, path)
        assert inline_code(response.content.decode()) == [], path
    assert checked >= 10


def test_no_template_holds_inline_script() -> None:
    """Forms and pages only reached by POST are not fetched above: read every template instead."""
    from pathlib import Path

    from django.conf import settings

    roots = [Path(settings.BASE_DIR) / "templates", *Path(settings.BASE_DIR).glob("*/templates")]
    offenders = {}
    for root in roots:
        for template in root.rglob("*.html"):
            found = inline_code(template.read_text())
            if found:
                offenders[str(template.relative_to(settings.BASE_DIR))] = found
    assert offenders == {}


def test_htmx_fragments_have_no_inline_script(owner_client: Client, seeded: Any) -> None:
    for path in seeded_pages(seeded.id)[:10]:
        response = owner_client.get(path, HTTP_HX_REQUEST="true", follow=True)
        assert response.status_code == 200, path
        assert inline_code(response.content.decode()) == [], path


def test_signed_out_pages_have_the_policy_too(db: Any) -> None:
    client = Client()
    for path in ANONYMOUS_PAGES:
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        assert_strict_policy(response, path)
        assert inline_code(response.content.decode()) == [], path


def test_settings_forms_ask_through_data_confirm(owner_client: Client, seeded: Any, member: Any) -> None:
    owner_client.post(f"/projects/{seeded.id}/settings/keys/", {"name": "k", "scopes": ["ingest"]})
    html = owner_client.get(f"/projects/{seeded.id}/settings/").content.decode()
    assert 'data-confirm="Revoke this key? Requests using it will fail at once."' in html
    assert 'data-confirm="Remove member from Acme?"' in html


def test_the_swagger_start_up_script_is_a_file(db: Any) -> None:
    response = Client().get("/api/docs/?script=")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle(" in response.content.decode()


def test_the_inline_code_check_catches_what_it_should() -> None:
    html = ('<script>alert(1)</script><script type="application/json">{}</script><script src="/a.js"></script>'
            '<a href="javascript:x()">x</a><button onclick="x()">b</button>'
            '<div hx-trigger="every 60s [ok()]"></div><div hx-on:click="x()"></div>')
    assert len(inline_code(html)) == 5
