"""POST /api/v1/ingest through the full Django stack: every status code, per-item errors, limits."""
from __future__ import annotations

import gzip
import json
from decimal import Decimal
from typing import Any

import pytest
from django.test import override_settings

from ingest import limits
from telemetry.models import Call, CallPayload, Feedback, PendingCall, Score
from tenancy.services import api_key_revoke
from tests.conftest import Api, call_event

pytestmark = pytest.mark.django_db


def test_it_accepts_a_batch_and_stores_calls_with_payloads_apart(api: Api, project: Any, prices: None) -> None:
    events = [call_event(1, input=[{"role": "user", "content": "Hi <b>there</b>"}], context=["doc 1"],
                         user_id="u-1", session_id="s-1", feature="chat", team="growth", environment="prod",
                         release="1.2.3", prompt={"name": "greeter", "version": 3}, tags=["beta", "eu"],
                         params={"temperature": 0.2, "max_tokens": 256}, metadata={"region": "eu-west-1"},
                         time_to_first_token_ms=120.5),
              call_event(2, kind="tool", name="search", model="", provider="", usage=None)]
    response = api.ingest(events)
    assert response.status_code == 202, response.content
    assert response.json() == {"accepted": 2, "duplicates": 0, "rejected": 0, "changed": 0, "duplicate_items": [],
                               "rejected_items": [], "changed_items": []}
    call = Call.objects.get(project=project, external_id="call-1")
    assert (call.user_id, call.session_id, call.feature, call.team, call.environment, call.release) == (
        "u-1", "s-1", "chat", "growth", "prod", "1.2.3")
    assert (call.prompt_name, call.prompt_version, call.tags) == ("greeter", "3", ["beta", "eu"])
    assert call.params == {"temperature": 0.2, "max_tokens": 256}
    assert call.latency_ms == 501 and call.ttft_ms == 120.5
    assert call.end_time is not None and (call.end_time - call.start_time).total_seconds() == pytest.approx(0.501)
    assert call.total_tokens == 120 and call.status == "ok"
    assert PendingCall.objects.filter(call_id=call.id, project_id=project.id).exists()
    payload = CallPayload.objects.get(call=call)
    assert payload.input == [{"role": "user", "content": "Hi <b>there</b>"}]
    assert payload.output == "answer" and payload.context == ["doc 1"]
    tool = Call.objects.get(project=project, external_id="call-2")
    assert tool.kind == "tool" and tool.cost_source == "unknown" and tool.input_tokens is None


def test_it_keeps_valid_items_and_explains_each_rejected_one(api: Api, project: Any) -> None:
    events = [
        call_event(1),
        call_event(2, usage={"input_tokens": "many"}),
        {"type": "call", "id": "x", "usr_id": "typo"},
        {"type": "nonsense"},
        call_event(3, model="m" * (limits.MAX_MODEL + 1)),
        {"type": "feedback", "call_id": "call-1"},
        call_event(4, timestamp="yesterday"),
        call_event(5),
    ]
    response = api.ingest(events)
    assert response.status_code == 207
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (2, 6)
    by_index = {item["index"]: item for item in body["rejected_items"]}
    assert set(by_index) == {1, 2, 3, 4, 5, 6}
    assert (by_index[1]["id"], by_index[1]["type"]) == ("call-2", "call")
    assert by_index[1]["errors"][0]["field"] == "usage.input_tokens"
    assert "got `str`" in by_index[1]["errors"][0]["message"]
    assert by_index[2]["errors"] == [{"field": "usr_id", "message": "is not a field of a `call` event; did you mean "
                                                                    "`user_id`?"}]
    assert by_index[3]["errors"][0]["field"] == "type"
    assert by_index[4]["errors"][0]["field"] == "model" and "length <= 200" in by_index[4]["errors"][0]["message"]
    assert "thumbs" in by_index[5]["errors"][0]["message"]
    assert by_index[6]["errors"][0]["field"] == "timestamp"
    assert set(Call.objects.filter(project=project).values_list("external_id", flat=True)) == {"call-1", "call-5"}


def test_every_error_of_an_event_is_named_with_valid_values_and_near_misses(api: Api) -> None:
    event = call_event(1, kind="robot", status="fine", latencyms=3, usage={"input_tokens": -1, "outptu_tokens": 2},
                       prompt={"name": "p", "version": [1]})
    response = api.ingest([event, {"type": "score", "call_id": "c", "name": "q", "value": 1, "source": "robot"}])
    body = response.json()
    errors = {(e["field"], e["message"]) for e in body["rejected_items"][0]["errors"]}
    assert ("kind", "'robot' is not allowed; valid values: llm, embedding, retrieval, tool, chain, agent, "
                    "other") in errors
    assert ("status", "'fine' is not allowed; valid values: ok, error") in errors
    assert ("latencyms", "is not a field of a `call` event; did you mean `latency_ms`?") in errors
    assert ("usage.outptu_tokens", "is not a field of `usage`; did you mean `output_tokens`?") in errors
    assert ("usage.input_tokens", "Expected `int` >= 0") in errors
    assert "prompt.version" in {field for field, _ in errors} and len(errors) == 6
    assert body["rejected_items"][1]["errors"] == [
        {"field": "source", "message": "'robot' is not allowed; valid values: heuristic, model, judge, human, "
                                       "user, api"}]


def test_a_wrong_event_type_lists_the_valid_ones(api: Api) -> None:
    response = api.ingest([{"type": "calls", "id": "a"}, {"id": "b"}])
    assert [item["errors"] for item in response.json()["rejected_items"]] == [
        [{"field": "type", "message": "'calls' is not an event type; valid values: call, span, feedback, score; "
                                      "did you mean `call`?"}],
        [{"field": "type", "message": "is required; valid values: call, span, feedback, score"}]]


def test_a_batch_with_every_event_refused_is_422_with_the_same_body(api: Api, project: Any) -> None:
    response = api.ingest([call_event(1, kind="robot"), {"type": "feedback"}])
    assert response.status_code == 422, response.content
    body = response.json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (0, 0, 2)
    assert [item["index"] for item in body["rejected_items"]] == [0, 1]
    assert body["rejected_items"][1]["errors"] == [{"field": "call_id", "message": "is required"}]
    assert not Call.objects.filter(project=project).exists()


def test_an_over_long_id_is_not_echoed_in_full(api: Api) -> None:
    long_id = "i" * 5000
    response = api.ingest([call_event(1, id=long_id), call_event(2)])
    assert response.status_code == 207
    rejected = response.json()["rejected_items"][0]
    assert rejected["id"].startswith("iiii") and rejected["id"].endswith("… (5000 characters)")
    assert len(response.content) < 1000
    assert rejected["errors"][0]["field"] == "id"


def test_a_resent_event_is_a_duplicate_and_stores_nothing_new(api: Api, project: Any) -> None:
    assert api.ingest([call_event(1), call_event(2)]).status_code == 202
    response = api.ingest([call_event(1, model="changed"), call_event(3), call_event(3)])
    assert response.status_code == 202
    body = response.json()
    assert (body["accepted"], body["duplicates"]) == (1, 2)
    assert [d["id"] for d in body["duplicate_items"]] == ["call-1", "call-3"]
    assert Call.objects.filter(project=project).count() == 3
    assert Call.objects.get(project=project, external_id="call-1").model == "gpt-4o-mini"


def test_it_inflates_gzip_bodies(api: Api, project: Any) -> None:
    response = api.ingest([call_event(i) for i in range(50)], gzip_body=True)
    assert response.status_code == 202
    assert Call.objects.filter(project=project).count() == 50


@override_settings()
def test_it_refuses_a_gzip_bomb_without_inflating_it(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_BODY_BYTES", 1024 * 1024)
    bomb = gzip.compress(b'{"events": [' + b" " * (200 * 1024 * 1024) + b"]}", compresslevel=9)
    assert len(bomb) < 1024 * 1024
    response = api.ingest(raw=bomb, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 413
    assert "decompressed body is larger than the 1 MB limit" in response.json()["error"]["message"]


def test_invalid_gzip_is_400(api: Api) -> None:
    response = api.ingest(raw=b"not gzip at all", HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_gzip"


def test_unknown_content_encoding_is_415(api: Api) -> None:
    response = api.ingest([call_event()], HTTP_CONTENT_ENCODING="br")
    assert response.status_code == 415


def test_body_over_the_limit_is_413(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_BODY_BYTES", 2048)
    response = api.ingest([call_event(i, output="x" * 500) for i in range(10)])
    assert response.status_code == 413
    assert "Send fewer events" in response.json()["error"]["message"]


def test_too_many_events_is_413(api: Api, monkeypatch: pytest.MonkeyPatch, project: Any) -> None:
    monkeypatch.setattr(limits, "MAX_EVENTS", 3)
    response = api.ingest([call_event(i) for i in range(4)])
    assert response.status_code == 413
    assert "the limit is 3" in response.json()["error"]["message"]
    assert Call.objects.filter(project=project).count() == 0


def test_an_oversized_payload_is_cut_and_the_call_kept_with_its_metrics(api: Api, monkeypatch: pytest.MonkeyPatch,
                                                                         project: Any) -> None:
    monkeypatch.setattr(limits, "MAX_PAYLOAD_BYTES", 1000)
    response = api.ingest([call_event(1, output="y" * 2000, input=[{"role": "user", "content": "é" * 900}],
                                      cost_usd=0.25), call_event(2)])
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["accepted"], body["rejected"], body["changed"]) == (2, 0, 1)
    changed = body["changed_items"][0]
    assert (changed["index"], changed["id"], changed["type"]) == (0, "call-1", "call")
    assert [c["field"] for c in changed["changes"]] == ["input", "output"]
    assert "2002 bytes" in changed["changes"][1]["message"] and "1000-byte limit" in changed["changes"][1]["message"]
    call = Call.objects.get(project=project, external_id="call-1")
    assert (call.latency_ms, call.input_tokens, call.cost_total_usd) == (501, 100, Decimal("0.25"))
    payload = CallPayload.objects.get(call=call)
    assert payload.output["truncated"] is True and payload.output["original_bytes"] == 2002
    assert payload.output["limit_bytes"] == 1000 and payload.output["preview"].startswith("yyy")
    assert len(json.dumps(payload.output)) <= 1000 and len(json.dumps(payload.input, ensure_ascii=False)) <= 1100
    assert payload.input["preview"].startswith('[{"role":"user","content":"éé')


def test_a_five_megabyte_output_keeps_the_call(api: Api, project: Any) -> None:
    response = api.ingest([call_event(1, output="z" * (5 * 1024 * 1024))])
    assert response.status_code == 202 and response.json()["changed"] == 1
    payload = CallPayload.objects.get(call__project=project, call__external_id="call-1")
    assert payload.output["original_bytes"] == 5 * 1024 * 1024 + 2
    assert len(json.dumps(payload.output)) <= limits.MAX_PAYLOAD_BYTES


@pytest.mark.parametrize("raw, code", [
    (b"{not json", "invalid_json"),
    (b'{"events": {"a": 1}}', "invalid_body"),
    (b'[1, 2]', "invalid_body"),
    (b'{"events": []}', "empty_batch"),
    (b"  ", "invalid_json"),
])
def test_malformed_bodies_are_400_with_a_reason(api: Api, raw: bytes, code: str) -> None:
    response = api.ingest(raw=raw)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]


def test_wrong_content_type_is_415(api: Api) -> None:
    response = api.ingest([call_event()], content_type="text/plain")
    assert response.status_code == 415
    assert "application/json" in response.json()["error"]["message"]


def test_nul_characters_are_refused_per_item(api: Api, project: Any) -> None:
    raw = ('{"events": [' + json.dumps(call_event(1, output="bad \u0000 byte")) + "," + json.dumps(call_event(2))
           + "]}").encode()
    response = api.ingest(raw=raw)
    assert response.status_code == 207
    assert "NUL character" in response.json()["rejected_items"][0]["errors"][0]["message"]
    assert Call.objects.filter(project=project).count() == 1


@pytest.mark.parametrize("event, field", [
    (call_event(1, usage={"input_tokens": 10, "cached_input_tokens": 50}), "usage.cached_input_tokens"),
    (call_event(1, usage={"output_tokens": 10, "reasoning_tokens": 50}), "usage.reasoning_tokens"),
    (call_event(1, usage={"input_tokens": 2**40}), "usage.input_tokens"),
    (call_event(1, latency_ms=-5), "latency_ms"),
    (call_event(1, end_time="2026-11-20T09:00:00Z", latency_ms=None), "end_time"),
    (call_event(1, cost_usd=-1), "cost_usd"),
    (call_event(1, cost_usd="NaN"), "cost_usd"),
    (call_event(1, status="maybe"), "status"),
    (call_event(1, kind="robot"), "kind"),
    (call_event(1, tags=["x" * 101]), "tags[0]"),
    (call_event(1, metadata=[1, 2]), "metadata"),
    (call_event(1, timestamp=1e20), "timestamp"),
    ({"type": "score", "call_id": "c", "name": "q"}, "value"),
    ({"type": "feedback", "call_id": "c", "rating": 9}, "rating"),
])
def test_semantic_errors_name_the_field(api: Api, event: dict[str, Any], field: str) -> None:
    if event.get("latency_ms", 0) is None:
        event.pop("latency_ms")
    response = api.ingest([event])
    assert response.status_code == 422, response.content
    errors = response.json()["rejected_items"][0]["errors"]
    assert errors[0]["field"] == field, errors


def test_missing_key_is_401(api: Api) -> None:
    response = Api(None).ingest([call_event()])
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["error"]["message"]


def test_unknown_key_is_401(api: Api) -> None:
    response = Api("obs_not-a-real-key").ingest([call_event()])
    assert response.status_code == 401
    assert "Unknown API key" in response.json()["error"]["message"]


def test_revoked_key_is_401(project: Any) -> None:
    from tenancy.services import api_key_create

    issued = api_key_create(project=project, scopes=["ingest"])
    api_key_revoke(api_key=issued.api_key)
    response = Api(issued.raw_key).ingest([call_event()])
    assert response.status_code == 401
    assert "revoked" in response.json()["error"]["message"]


def test_x_api_key_header_works(ingest_key: str, project: Any) -> None:
    response = Api(None).ingest([call_event()], HTTP_X_API_KEY=ingest_key)
    assert response.status_code == 202
    assert Call.objects.filter(project=project).count() == 1


def test_read_only_key_cannot_ingest(reader: Api) -> None:
    response = reader.ingest([call_event()])
    assert response.status_code == 403
    assert "'ingest' scope" in response.json()["error"]["message"]


def test_rate_limit_is_429_with_retry_after(api: Api) -> None:
    with override_settings(OBSERVATORY_INGEST_RATE="2/min"):
        assert api.ingest([call_event(1)]).status_code == 202
        assert api.ingest([call_event(2)]).status_code == 202
        response = api.ingest([call_event(3)])
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert "Rate limit" in response.json()["error"]["message"]


def test_feedback_and_scores_attach_to_calls_in_the_same_batch(api: Api, project: Any) -> None:
    response = api.ingest([
        call_event(1),
        {"type": "feedback", "id": "fb-1", "call_id": "call-1", "thumbs": "down", "comment": "wrong",
         "user_id": "end-user-9"},
        {"type": "score", "id": "sc-1", "call_id": "call-1", "name": "helpfulness", "value": 0.25,
         "label": "poor", "source": "judge"},
    ])
    assert response.status_code == 202
    call = Call.objects.get(project=project, external_id="call-1")
    feedback = Feedback.objects.get(project=project, external_id="fb-1")
    assert (feedback.call_id, feedback.thumbs, feedback.end_user_id) == (call.id, -1, "end-user-9")
    score = Score.objects.get(project=project, external_id="sc-1")
    assert (score.call_id, score.value, score.label, score.source) == (call.id, 0.25, "poor", "judge")


def test_early_feedback_is_kept_unlinked(api: Api, project: Any) -> None:
    response = api.ingest([{"type": "feedback", "call_id": "later", "rating": 4}])
    assert response.status_code == 202
    feedback = Feedback.objects.get(project=project)
    assert feedback.call_id is None and feedback.call_external_id == "later" and feedback.rating == 4


def test_provided_cost_wins_over_computed(api: Api, project: Any, prices: None) -> None:
    api.ingest([call_event(1, cost_usd=0.5), call_event(2)])
    provided = Call.objects.get(project=project, external_id="call-1")
    computed = Call.objects.get(project=project, external_id="call-2")
    assert (provided.cost_source, provided.cost_total_usd) == ("provided", Decimal("0.5"))
    assert computed.cost_source == "computed" and computed.cost_total_usd > 0


def test_unknown_model_is_unpriced_not_free(api: Api, project: Any, prices: None) -> None:
    api.ingest([call_event(1, model="my-private-finetune", provider="acme")])
    call = Call.objects.get(project=project)
    assert call.cost_source == "unknown" and call.cost_total_usd is None


def test_a_key_only_writes_to_its_own_project(api: Api, project: Any, other_project: Any) -> None:
    api.ingest([call_event(1)])
    assert Call.objects.filter(project=other_project).count() == 0
    assert Call.objects.filter(project=project).count() == 1


def test_the_same_client_id_in_two_projects_is_two_calls(api: Api, project: Any, other_project: Any) -> None:
    from tenancy.services import api_key_create

    other = Api(api_key_create(project=other_project, scopes=["ingest"]).raw_key)
    assert api.ingest([call_event(1)]).status_code == 202
    assert other.ingest([call_event(1)]).json()["accepted"] == 1
