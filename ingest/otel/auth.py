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

from tenancy.auth import ApiKeyAuthentication, KeyUser, key_lookup
from tenancy.models import ApiKey


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
        # key_lookup limits unknown keys per client address, as for Bearer keys.
        api_key = key_lookup(request, basic_key(header),
                             "Unknown API key. With Basic auth the secret (password) must be an Observatory project key.")
        return KeyUser(api_key), api_key
