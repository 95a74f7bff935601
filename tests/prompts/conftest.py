"""Fixtures of the prompts tests: keys with the prompts scope, and a prompt with versions."""
from __future__ import annotations

from typing import Any

import pytest

from prompts.services import Actor, prompt_version_create
from tenancy.services import api_key_create
from tests.conftest import Api

OWNER = Actor(label="owner", can_protect=True)
MEMBER = Actor(label="member", can_protect=False)


@pytest.fixture
def prompts_key(project: Any) -> str:
    return api_key_create(project=project, scopes=["read", "prompts"]).raw_key


@pytest.fixture
def writer(prompts_key: str) -> Api:
    return Api(prompts_key)


@pytest.fixture
def greeting(project: Any) -> Any:
    """"greeting": v1 (production), v2 (staging)."""
    v1 = prompt_version_create(project=project, name="greeting", kind="text", template="Hello {{name}}!",
                               config={"model": "gpt-4o-mini", "temperature": 0.2}, commit_message="first",
                               labels=["production"], actor=OWNER)
    prompt_version_create(project=project, name="greeting", kind="text", template="Hi {{ name }}, about {{topic}}?",
                          config={"model": "gpt-4o-mini"}, commit_message="second", labels=["staging"], actor=OWNER)
    return v1.prompt
