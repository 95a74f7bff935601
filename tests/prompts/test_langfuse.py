"""The real Langfuse SDK against a live gunicorn: create_prompt (text and chat), get_prompt by
label and version, update_prompt's labels, compile, list, and errors it reports."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.processes import child_env, gunicorn

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def server(django_db_setup: Any, django_db_blocker: Any) -> Iterator[str]:
    with django_db_blocker.unblock():
        env = child_env(OBSERVATORY_INGEST_RATE="100000/min", OBSERVATORY_READ_RATE="100000/min")
    with gunicorn(env) as base:
        yield base


@pytest.fixture
def langfuse(server: str, prompts_key: str) -> Iterator[Any]:
    from langfuse import Langfuse

    # The SDK keeps one set of resources (its HTTP client, its credentials) per public key: one per key here.
    client = Langfuse(public_key=f"pk-{prompts_key[:12]}", secret_key=prompts_key, base_url=server,
                      tracing_enabled=False)
    yield client
    client.shutdown()


def test_the_langfuse_sdk_round_trip(langfuse: Any, server: str, read_key: str) -> None:
    from langfuse import Langfuse

    text = langfuse.create_prompt(name="support/answer", prompt="Answer {{question}} as {{persona}}.",
                                  labels=["production"], tags=["support"], commit_message="first",
                                  config={"model": "gpt-4o-mini", "temperature": 0.3})
    assert (text.name, text.version, text.labels) == ("support/answer", 1, ["production", "latest"])
    assert text.commit_message == "first"
    v2 = langfuse.create_prompt(name="support/answer", prompt="Reply to {{question}}, {{persona}}.",
                                labels=["staging"])
    assert v2.version == 2

    fetched = langfuse.get_prompt("support/answer", cache_ttl_seconds=0)
    assert fetched.version == 1 and fetched.config == {"model": "gpt-4o-mini", "temperature": 0.3}
    assert fetched.compile(question="why?", persona="a pirate") == "Answer why? as a pirate."
    assert langfuse.get_prompt("support/answer", label="staging", cache_ttl_seconds=0).version == 2
    assert langfuse.get_prompt("support/answer", version=2, cache_ttl_seconds=0).prompt.startswith("Reply")

    updated = langfuse.update_prompt(name="support/answer", version=2, new_labels=["production"])
    assert updated.version == 2 and "production" in updated.labels
    assert langfuse.get_prompt("support/answer", cache_ttl_seconds=0).version == 2

    chat = langfuse.create_prompt(name="triage", type="chat", labels=["production"],
                                  prompt=[{"role": "system", "content": "You sort {{kind}} tickets."},
                                          {"role": "user", "content": "{{ticket}}"}])
    assert chat.version == 1
    fetched_chat = langfuse.get_prompt("triage", type="chat", cache_ttl_seconds=0)
    assert fetched_chat.compile(kind="billing", ticket="refund please") == [
        {"role": "system", "content": "You sort billing tickets."}, {"role": "user", "content": "refund please"}]

    listed = langfuse.api.prompts.list()
    assert sorted(p.name for p in listed.data) == ["support/answer", "triage"]
    assert next(p for p in listed.data if p.name == "support/answer").versions == [1, 2]

    # A read-only key fetches but cannot create.
    reader = Langfuse(public_key=f"pk-{read_key[:12]}", secret_key=read_key, base_url=server, tracing_enabled=False)
    try:
        assert reader.get_prompt("triage", type="chat", cache_ttl_seconds=0).version == 1
        with pytest.raises(Exception) as info:
            reader.create_prompt(name="triage", prompt="x")
        assert getattr(info.value, "status_code", None) == 403
    finally:
        reader.shutdown()


def test_the_sdk_hears_what_is_wrong(langfuse: Any) -> None:
    from langfuse.api import NotFoundError

    with pytest.raises(NotFoundError):
        langfuse.get_prompt("missing", cache_ttl_seconds=0, max_retries=0)
    with pytest.raises(Exception) as info:
        langfuse.create_prompt(name="bad", prompt="Hello {{name")
    assert getattr(info.value, "status_code", None) == 400
    assert "never closed" in str(getattr(info.value, "body", ""))
