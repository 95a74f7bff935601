"""Call detail and trace pages: payloads readable and escaped, usage, cost, quality, feedback, the
trace waterfall, and 404 for what is not the viewer's."""
from __future__ import annotations

import re
from typing import Any

from django.test import Client
from django.utils import timezone

from quality.models import Flag
from telemetry.models import Call
from telemetry.services import project_process
from tests.dashboards.conftest import recent


def section(page: str, testid: str) -> str:
    """The HTML inside the element with this data-testid (up to the end of its <section>)."""
    start = page.index(f'data-testid="{testid}"')
    return page[start:page.index("</section>", start)]


def get(client: Client, project: Any, path: str) -> str:
    response = client.get(f"/projects/{project.id}/{path}")
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def test_chat_input_reads_as_a_conversation(owner_client: Client, seeded: Any) -> None:
    page = get(owner_client, seeded, "calls/c-5")
    chat = section(page, "call-input")
    assert re.findall(r'<div class="role">(\w+)</div>', chat) == ["system", "user"]
    assert "Be brief." in chat and "Question 5?" in chat
    assert "Answer number 5" in section(page, "call-output")
    assert 'href="/projects/%d/users/user-0?' % seeded.id in page  # user and session link to their pages
    assert 'href="/projects/%d/sessions/s-5?' % seeded.id in page
    assert "105 / 25" in section(page, "tokens")


def test_error_scores_and_feedback_are_shown(owner_client: Client, seeded: Any) -> None:
    page = get(owner_client, seeded, "calls/c-3")
    assert "RateLimitError" in page and "429 from provider" in page
    quality = section(page, "quality")
    assert "helpfulness" in quality and "0.80" in quality and "graded by reviewer" in quality
    page = get(owner_client, seeded, "calls/c-12")
    feedback = section(page, "feedback")
    assert "thumbs down" in feedback and "not what I asked" in feedback
    assert "Evaluation: Done" in page


def test_unpriced_call_links_to_the_price_settings(owner_client: Client, seeded: Any) -> None:
    page = get(owner_client, seeded, "calls/c-2")  # house-model has no price
    assert "unpriced" in section(page, "cost")
    assert f'href="/projects/{seeded.id}/settings/?price_model=house-model#prices"' in page
    priced = get(owner_client, seeded, "calls/c-0")
    assert "computed from the price table" in priced and "price_model=" not in priced


def test_flags_with_their_evidence(owner_client: Client, seeded: Any) -> None:
    call = Call.objects.get(project=seeded, external_id="c-4")
    Flag.objects.create(project=seeded, call=call, name="pii.email", severity="high", evaluator="pii",
                        detail="an e-mail address <b>in the output</b>", created_at=timezone.now())
    quality = section(get(owner_client, seeded, "calls/c-4"), "quality")
    assert "pii.email" in quality and "an e-mail address &lt;b&gt;in the output&lt;/b&gt;" in quality


def test_json_is_pretty_printed_and_long_text_folds(owner_client: Client, seeded: Any, full_api: Any) -> None:
    long_text = "\n".join(f"line {n} of a long answer" for n in range(200))
    events = [
        {"type": "call", "id": "json-out", "timestamp": recent(2), "model": "m", "input": {"query": "q", "k": 3},
         "output": {"answer": 42, "items": ["a", "b"]}, "metadata": {"ticket": "T-1"}, "params": {"temperature": 0.2}},
        {"type": "call", "id": "long-out", "timestamp": recent(2), "model": "m", "output": long_text,
         "input": [{"role": "user", "content": [{"type": "text", "text": "part one"}, {"type": "text", "text": "part two"}]}]},
    ]
    assert full_api.ingest(events).status_code == 202
    project_process(project_id=seeded.id)
    page = get(owner_client, seeded, "calls/json-out")
    output = section(page, "call-output")
    assert "<pre>{\n" in output and "\n  &quot;answer&quot;: 42" in output  # jsonb orders keys its own way
    assert "&quot;temperature&quot;: 0.2" in page and "&quot;ticket&quot;: &quot;T-1&quot;" in page
    page = get(owner_client, seeded, "calls/long-out")
    output = section(page, "call-output")
    assert '<details class="long">' in output and "line 199 of a long answer" in output
    assert "part one\n\npart two" in section(page, "call-input")


def test_trace_waterfall_nests_and_places_spans(owner_client: Client, seeded: Any) -> None:
    page = get(owner_client, seeded, "calls/agent-llm")
    tree = section(page, "trace-tree")
    spans = re.findall(r'<div class="wf-row( current)?[^"]*" data-testid="trace-span"', tree)
    assert len(spans) == 3 and [bool(current) for current in spans] == [False, False, True]
    # Root, then its two children inside a nested list; the llm call starts 6 s into an 8.5 s trace.
    assert tree.index("answer-ticket") < tree.index("<ul role=\"list\">") < tree.index("search-docs")
    assert "margin-left:70.59%;width:29.41%" in tree
    assert f'href="/projects/{seeded.id}/calls/agent-root"' in tree
    whole = get(owner_client, seeded, "traces/trace-agent")
    # The trace page selects its root span by default (dashboards.views.trace).
    assert whole.count('data-testid="trace-span"') == 3 and whole.count('aria-current="true"') == 1
    assert "answer-ticket" in whole


def test_call_data_is_escaped_everywhere(owner_client: Client, seeded: Any) -> None:
    for path in ("calls/xss-call", "traces/t-1"):
        page = get(owner_client, seeded, path)
        assert "<script>alert(1)" not in page and "<img src=x" not in page
    page = get(owner_client, seeded, "calls/xss-call")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=&quot;alert(2)&quot;&gt;" in section(
        page, "call-output")


def test_unknown_and_foreign_ids_are_404(owner_client: Client, outsider_client: Client, seeded: Any,
                                         other_project: Any) -> None:
    now = timezone.now()
    Call.objects.create(project=other_project, external_id="foreign", trace_id="foreign-trace", start_time=now,
                        received_at=now)
    for path in ("calls/nope", "traces/nope", "calls/foreign", "traces/foreign-trace"):
        assert owner_client.get(f"/projects/{seeded.id}/{path}").status_code == 404
    assert owner_client.get(f"/projects/{other_project.id}/calls/foreign").status_code == 404
    for path in ("calls/c-0", "traces/trace-agent"):
        assert outsider_client.get(f"/projects/{seeded.id}/{path}").status_code == 404


def test_viewers_can_read_calls_and_traces(viewer_client: Client, seeded: Any) -> None:
    assert viewer_client.get(f"/projects/{seeded.id}/calls/c-0").status_code == 200
    assert viewer_client.get(f"/projects/{seeded.id}/traces/trace-agent").status_code == 200
