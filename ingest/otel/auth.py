"""Project keys for OpenTelemetry and Langfuse clients: Bearer, X-API-Key, or HTTP Basic.

Langfuse SDKs send `Authorization: Basic base64(public_key:secret_key)`. The secret part is the
Observatory project key; the public part is a label we do not check (use the key's prefix, or
anything). With an empty secret the user part is taken as the key (`curl -u obs_...:`).
"""
from __future__ import annotations

import base64
import binascii

from rest_framework import exceptions
from rest_framework.request import Request

from tenancy.auth import ApiKeyAuthentication, KeyUser
from tenancy.models import ApiKey
from tenancy.selectors import api_key_by_raw
from tenancy.services import api_key_touch


def basic_key(header: str) -> str:
    """The project key inside an `Authorization: Basic ...` header."""
    try:
        decoded = base64.b64decode(header.split(None, 1)[1].strip(), validate=True).decode()
    except (IndexError, ValueError, binascii.Error, UnicodeDecodeError):
        raise exceptions.AuthenticationFailed("Malformed Basic credentials: send base64(public:secret).") from None
    user, _, secret = decoded.partition(":")
    key = secret.strip() or user.strip()
    if not key:
        raise exceptions.AuthenticationFailed("Empty Basic credentials: the secret must be an Observatory key.")
    return key


class KeyOrBasicAuthentication(ApiKeyAuthentication):
    def authenticate(self, request: Request) -> tuple[KeyUser, ApiKey] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header.lower().startswith("basic "):
            return super().authenticate(request)
        api_key = api_key_by_raw(basic_key(header))
        if api_key is None:
            raise exceptions.AuthenticationFailed(
                "Unknown API key. With Basic auth the secret (password) must be an Observatory project key.")
        if not api_key.is_active:
            raise exceptions.AuthenticationFailed(f"API key {api_key.prefix}… was revoked. Create a new key.")
        api_key_touch(api_key=api_key)
        return KeyUser(api_key), api_key
