"""Security basics (issue 12 §4): sign-in lockout by account and by address, unknown API keys
limited per address, password-reset mail limited per address, Cache-Control on authenticated
responses, the TLS setting. CSP on every page is in tests/dashboards/test_csp.py."""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.tokens import default_token_generator
from django.core import mail
from django.test import Client, RequestFactory, override_settings
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from observatory import breaker, security
from tenancy.services import api_key_create, api_key_revoke
from tests.conftest import call_event

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
LOCKED = "Too many failed sign-ins. Try again in 15 minutes"


def sign_in(username: str, password: str, ip: str = "127.0.0.1", path: str = "/accounts/login/") -> Any:
    return Client(REMOTE_ADDR=ip).post(path, {"username": username, "password": password})


def signed_in(response: Any) -> bool:
    return "_auth_user_id" in response.client.session


def lock_out(username: str, ip: str = "127.0.0.1", path: str = "/accounts/login/") -> None:
    for n in range(5):
        response = sign_in(username, f"wrong-{n}", ip, path)
        assert not signed_in(response)


# --- Sign-in lockout -------------------------------------------------------------------------


def test_the_right_password_is_refused_after_five_failures_with_the_reason(owner: Any) -> None:
    for n in range(4):
        response = sign_in("owner", f"wrong-{n}")
        assert response.status_code == 200
        assert "do not match" in response.content.decode()

    fifth = sign_in("owner", "wrong-4")
    assert fifth.status_code == 429
    response = sign_in("owner", "pw-owner-123")

    assert response.status_code == 429
    assert not signed_in(response)
    body = response.content.decode()
    assert LOCKED in body
    assert response["Retry-After"] == str(15 * 60)
    assert 'name="password"' in body  # the sign-in page itself, not a bare error


def test_the_lock_is_per_account_and_per_address(owner: Any, member: Any) -> None:
    lock_out("owner", ip="10.0.0.1")

    # Another address, another account: untouched.
    assert signed_in(sign_in("member", "pw-member-123", ip="10.0.0.2"))
    # The locked account from anywhere.
    elsewhere = sign_in("owner", "pw-owner-123", ip="10.0.0.3")
    assert elsewhere.status_code == 429 and not signed_in(elsewhere)
    # Any account from the locked address (guessing across accounts is capped too).
    same_address = sign_in("member", "pw-member-123", ip="10.0.0.1")
    assert same_address.status_code == 429 and not signed_in(same_address)


def test_failures_spread_over_accounts_lock_the_address(owner: Any, member: Any) -> None:
    for n in range(5):
        sign_in(f"nobody-{n}", "guess", ip="10.0.0.9")

    response = sign_in("member", "pw-member-123", ip="10.0.0.9")

    assert response.status_code == 429
    assert signed_in(sign_in("member", "pw-member-123", ip="10.0.0.10"))


def test_the_lock_lifts_after_the_cool_off(owner: Any) -> None:
    lock_out("owner")
    assert sign_in("owner", "pw-owner-123").status_code == 429

    # Time travel: every failure (the refused right password included) 15 minutes and a second ago.
    for attempt in AccessAttempt.objects.all():
        attempt.attempt_time -= timedelta(minutes=15, seconds=1)
        attempt.save(update_fields=["attempt_time"])

    assert signed_in(sign_in("owner", "pw-owner-123"))


def test_failures_older_than_the_cool_off_do_not_add_up(owner: Any) -> None:
    for n in range(4):
        sign_in("owner", f"wrong-{n}")
    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.first().attempt_time - timedelta(minutes=16))

    sign_in("owner", "wrong-again")

    assert signed_in(sign_in("owner", "pw-owner-123"))


@override_settings(AXES_FAILURE_LIMIT=2, AXES_COOLOFF_TIME=timedelta(minutes=3))
def test_limit_and_cool_off_come_from_settings(owner: Any) -> None:
    sign_in("owner", "wrong-1")
    response = sign_in("owner", "wrong-2")

    assert response.status_code == 429
    assert "Try again in 3 minutes" in response.content.decode()
    assert response["Retry-After"] == "180"


def test_the_admin_sign_in_is_covered(owner: Any) -> None:
    owner.is_staff = owner.is_superuser = True
    owner.save()
    lock_out("owner", path="/admin/login/")

    response = sign_in("owner", "pw-owner-123", path="/admin/login/")

    assert response.status_code == 429
    assert LOCKED in response.content.decode()
    assert not signed_in(response)


def test_the_lockout_settings_are_read_from_the_environment() -> None:
    env = {**os.environ, "OBSERVATORY_LOGIN_FAILURE_LIMIT": "7", "OBSERVATORY_LOGIN_COOLOFF_MINUTES": "30",
           "OBSERVATORY_TRUSTED_PROXY_COUNT": "2", "OBSERVATORY_UNKNOWN_KEY_RATE": "off"}
    values = _settings_in_subprocess(env, "AXES_FAILURE_LIMIT", "AXES_COOLOFF_TIME", "TRUSTED_PROXY_COUNT",
                                     "OBSERVATORY_UNKNOWN_KEY_RATE")
    assert values == [7, "0:30:00", 2, None]


def test_a_malformed_rate_stops_the_start() -> None:
    env = {**os.environ, "OBSERVATORY_UNKNOWN_KEY_RATE": "lots"}
    result = subprocess.run([sys.executable, "-c", "import observatory.settings"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "OBSERVATORY_UNKNOWN_KEY_RATE='lots' is not a rate" in result.stderr


# --- Password reset ----------------------------------------------------------------------------


def test_password_reset_mail_is_limited_per_address(owner: Any) -> None:
    client = Client(REMOTE_ADDR="10.0.1.1")
    for _ in range(5):
        assert client.post("/accounts/password_reset/", {"email": "owner@example.com"}).status_code == 302

    response = client.post("/accounts/password_reset/", {"email": "owner@example.com"})

    assert response.status_code == 429
    assert "Too many reset requests from your address" in response.content.decode()
    assert int(response["Retry-After"]) > 3000
    assert len(mail.outbox) == 5
    other = Client(REMOTE_ADDR="10.0.1.2").post("/accounts/password_reset/", {"email": "owner@example.com"})
    assert other.status_code == 302 and len(mail.outbox) == 6


def test_a_password_reset_lifts_the_account_lock_but_not_an_address_lock(owner: Any) -> None:
    lock_out("owner", ip="10.0.2.1")
    for n in range(5):
        sign_in(f"nobody-{n}", "guess", ip="10.0.2.9")
    client = Client(REMOTE_ADDR="10.0.2.2")
    url = f"/accounts/reset/{urlsafe_base64_encode(force_bytes(owner.pk))}/{default_token_generator.make_token(owner)}/"
    form_url = client.get(url)["Location"]  # Django moves the token into the session first

    response = client.post(form_url, {"new_password1": "a-new-long-pass-42", "new_password2": "a-new-long-pass-42"})

    assert response.status_code == 302 and response["Location"].endswith("/reset/done/")
    assert signed_in(sign_in("owner", "a-new-long-pass-42", ip="10.0.2.3"))
    assert sign_in("owner", "a-new-long-pass-42", ip="10.0.2.9").status_code == 429


# --- Client address behind proxies -------------------------------------------------------------


@pytest.mark.parametrize(("count", "forwarded", "expected"), [
    (0, "6.6.6.6", "10.9.9.9"),  # default: the header is ignored, whatever it says
    (1, "6.6.6.6, 203.0.113.7", "203.0.113.7"),  # one proxy: the entry it appended
    (2, "6.6.6.6, 203.0.113.7, 10.0.0.5", "203.0.113.7"),
    (2, "203.0.113.7", "10.9.9.9"),  # fewer hops than proxies: not through them, trust the socket
])
def test_client_ip_trusts_only_the_configured_proxies(count: int, forwarded: str, expected: str) -> None:
    request = RequestFactory().get("/", REMOTE_ADDR="10.9.9.9", HTTP_X_FORWARDED_FOR=forwarded)
    with override_settings(TRUSTED_PROXY_COUNT=count):
        assert security.client_ip(request) == expected


@override_settings(TRUSTED_PROXY_COUNT=1)
def test_behind_a_proxy_the_lock_follows_the_forwarded_address(owner: Any) -> None:
    proxy = "10.0.0.254"
    for n in range(5):
        Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="198.51.100.1").post(
            "/accounts/login/", {"username": f"x{n}", "password": "guess"})

    ok = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="198.51.100.2").post(
        "/accounts/login/", {"username": "owner", "password": "pw-owner-123"})

    assert signed_in(ok)
    assert AccessAttempt.objects.filter(ip_address="198.51.100.1").count() == 5


# --- Unknown API keys per address --------------------------------------------------------------


def _ingest(key: str, ip: str) -> Any:
    return Client(REMOTE_ADDR=ip).post("/api/v1/ingest", data=json.dumps({"events": [call_event()]}),
                                       content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}")


def test_unknown_keys_are_limited_per_address(ingest_key: str, django_assert_num_queries: Any) -> None:
    for n in range(20):
        response = _ingest(f"obs_guess{n}", "10.1.0.1")
        assert response.status_code == 401, n

    with django_assert_num_queries(0):  # refused before the key is looked up
        response = _ingest("obs_guess20", "10.1.0.1")

    assert response.status_code == 429
    assert response.json()["error"]["code"] == "too_many_unknown_keys"
    assert "Too many unknown API keys from your address" in response.json()["error"]["message"]
    assert 1 <= int(response["Retry-After"]) <= 60
    # Every key from that address waits out the window (documented in tenancy/auth.py) ...
    assert _ingest(ingest_key, "10.1.0.1").status_code == 429
    # ... while other addresses are not affected.
    assert _ingest(ingest_key, "10.1.0.2").status_code == 202
    assert _ingest("obs_guess21", "10.1.0.2").status_code == 401


def test_revoked_keys_do_not_count_as_guesses(project: Any) -> None:
    issued = api_key_create(project=project, scopes=["ingest"])
    api_key_revoke(api_key=issued.api_key)
    for _ in range(25):
        response = _ingest(issued.raw_key, "10.1.1.1")
        assert response.status_code == 401
        assert "was revoked" in response.json()["error"]["message"]


@override_settings(OBSERVATORY_UNKNOWN_KEY_RATE="3/min")
def test_read_api_and_otlp_basic_auth_count_too(read_key: str) -> None:
    client = Client(REMOTE_ADDR="10.1.2.1")
    assert client.get("/api/v1/calls", HTTP_X_API_KEY="obs_nope1").status_code == 401
    basic = base64.b64encode(b"pk:obs_nope2").decode()
    otlp = client.post("/v1/traces", data=b"{}", content_type="application/json", HTTP_AUTHORIZATION=f"Basic {basic}")
    assert otlp.status_code == 401
    assert client.get("/api/v1/calls", HTTP_AUTHORIZATION="Bearer obs_nope3").status_code == 401

    refused_read = client.get("/api/v1/calls", HTTP_AUTHORIZATION=f"Bearer {read_key}")
    refused_otlp = client.post("/v1/traces", data=b"{}", content_type="application/json",
                               HTTP_AUTHORIZATION=f"Basic {basic}")

    assert refused_read.status_code == 429 and refused_read.json()["error"]["code"] == "too_many_unknown_keys"
    assert refused_otlp.status_code == 429 and refused_otlp.has_header("Retry-After")  # exporters retry a 429
    assert "Too many unknown API keys" in refused_otlp.json()["message"]


@override_settings(OBSERVATORY_UNKNOWN_KEY_RATE=None)
def test_the_limit_can_be_turned_off() -> None:
    for n in range(25):
        assert _ingest(f"obs_guess{n}", "10.1.3.1").status_code == 401


class _BrokenCache:
    def get(self, *args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("redis is gone")

    set = get


def test_a_cache_outage_fails_open(monkeypatch: pytest.MonkeyPatch, ingest_key: str) -> None:
    monkeypatch.setattr(security.AddressLimit, "cache", _BrokenCache())
    breaker.throttle.reset()
    try:
        for n in range(25):
            assert _ingest(f"obs_guess{n}", "10.1.4.1").status_code == 401  # never a 500, never a 429
        monkeypatch.setattr("observatory.api.KeyRateThrottle.cache", _BrokenCache())
        assert _ingest(ingest_key, "10.1.4.1").status_code == 202
    finally:
        breaker.throttle.reset()


# --- Cache-Control -----------------------------------------------------------------------------


def test_signed_in_pages_are_private_and_not_stored(owner: Any, project: Any) -> None:
    client = Client()
    client.force_login(owner)
    for path in ["/", f"/projects/{project.id}/", f"/projects/{project.id}/settings/", "/api/docs/"]:
        response = client.get(path, follow=True)
        assert response.status_code == 200, path
        directives = {d.strip() for d in response["Cache-Control"].split(",")}
        assert {"private", "no-store"} <= directives, (path, response["Cache-Control"])


def test_key_authenticated_api_answers_are_private(full_key: str) -> None:
    response = Client().get("/api/v1/calls", HTTP_AUTHORIZATION=f"Bearer {full_key}")
    assert response.status_code == 200
    assert "private" in response["Cache-Control"]
    assert "public" not in response["Cache-Control"]


def test_anonymous_answers_are_left_alone() -> None:
    response = Client().get("/healthz")
    assert "private" not in response.get("Cache-Control", "")


# --- TLS ---------------------------------------------------------------------------------------


def _settings_in_subprocess(env: dict[str, str], *names: str) -> list[Any]:
    # The settings module alone (no django.setup()): what the environment makes of these names.
    code = ("import json; from observatory import settings; "
            f"print(json.dumps([getattr(settings, n, None) for n in {list(names)!r}], default=str))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


TLS_NAMES = ("SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS",
             "SECURE_PROXY_SSL_HEADER")


def test_tls_is_off_by_default_for_the_local_http_install() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OBSERVATORY_TLS", "OBSERVATORY_HSTS",
                                                                    "OBSERVATORY_PROXY_SSL"))}
    assert _settings_in_subprocess(env, *TLS_NAMES) == [False, False, 0, False, None]


def test_the_tls_setting_secures_cookies_and_turns_on_hsts() -> None:
    env = {**os.environ, "OBSERVATORY_TLS": "true", "OBSERVATORY_HSTS_SECONDS": "600",
           "OBSERVATORY_HSTS_INCLUDE_SUBDOMAINS": "true", "OBSERVATORY_PROXY_SSL_HEADER": "true"}
    assert _settings_in_subprocess(env, *TLS_NAMES) == [True, True, 600, True, ["HTTP_X_FORWARDED_PROTO", "https"]]


@override_settings(SESSION_COOKIE_SECURE=True, CSRF_COOKIE_SECURE=True, SECURE_HSTS_SECONDS=600,
                   SECURE_HSTS_INCLUDE_SUBDOMAINS=True, SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"))
def test_with_tls_cookies_are_secure_and_hsts_is_sent(owner: Any) -> None:
    client = Client(REMOTE_ADDR="10.2.0.1", HTTP_X_FORWARDED_PROTO="https")
    page = client.get("/accounts/login/")
    assert page["Strict-Transport-Security"] == "max-age=600; includeSubDomains"
    assert page.cookies["csrftoken"]["secure"] is True

    response = client.post("/accounts/login/", {"username": "owner", "password": "pw-owner-123"})

    assert response.status_code == 302
    assert response.cookies["sessionid"]["secure"] is True
    assert response.cookies["sessionid"]["httponly"] is True
