"""Audit and privacy fixtures: signed-in clients for each role of the organization."""
from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tenancy.models import Role
from tenancy.services import membership_set


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def admin_user(db: Any, org: Any) -> Any:
    user = get_user_model().objects.create_user("admin", "admin@example.com", "pw-admin-123")
    membership_set(organization=org, user=user, role=Role.ADMIN)
    return user


@pytest.fixture
def viewer(db: Any, org: Any) -> Any:
    user = get_user_model().objects.create_user("viewer", "viewer@example.com", "pw-viewer-123")
    membership_set(organization=org, user=user, role=Role.VIEWER)
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
