"""Channel secrets encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`).

The key is OBSERVATORY_ALERTS_ENCRYPTION_KEY (one or more comma-separated Fernet keys: the first
encrypts, all decrypt, so keys can be rotated), else one derived from SECRET_KEY with HKDF, so a
default install needs no setup. Changing SECRET_KEY without setting the key loses the secrets.
"""
from __future__ import annotations

import base64
import functools
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


class SecretsUnreadable(Exception):
    """The stored token does not decrypt with the configured keys."""


@functools.cache
def _fernet(configured: str, secret_key: str) -> MultiFernet:
    keys = [k.strip() for k in configured.split(",") if k.strip()]
    if not keys:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                       info=b"observatory alerts channel secrets").derive(secret_key.encode())
        keys = [base64.urlsafe_b64encode(derived).decode()]
    return MultiFernet([Fernet(k) for k in keys])


def fernet() -> MultiFernet:
    return _fernet(settings.ALERTS_ENCRYPTION_KEY, settings.SECRET_KEY)


def encrypt_json(values: dict[str, Any]) -> str:
    return fernet().encrypt(json.dumps(values).encode()).decode()


def decrypt_json(token: str) -> dict[str, Any]:
    try:
        return json.loads(fernet().decrypt(token.encode()))
    except InvalidToken:
        raise SecretsUnreadable("the channel's secrets do not decrypt with OBSERVATORY_ALERTS_ENCRYPTION_KEY "
                                "(or SECRET_KEY changed): enter them again") from None
