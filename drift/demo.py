"""The demo's drift (dashboards.demo.demo_seed calls these): a real shift in the seeded traffic and a
drift run over it, so `dev.py run --demo` opens a drift page that already names what changed.

The shift: the help center's prompt moves from version 1 to version 2 a day before "now", and
version 2's answers are twice as long; in the same day a topic nobody asked about before (exports
failing after a data-residency move) takes close to half of the help center's questions.
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

FEATURE, TEAM, PROMPT = "help-center", "customer-success", "help-answer"
SWITCH = timedelta(hours=25)  # version 2 ships this long before the seed's end; nothing in the hour around it
SHARE = 0.2  # help-center calls on each side, per model call of the rest of the demo
NEW_TOPIC_SHARE = 0.6
SYSTEM = "Answer from Northwind's help center articles. Be accurate; link the article you used."
QUESTIONS = (
    ("How do I invite a teammate to my workspace?",
     "Open Settings, choose Members and click Invite. Teammates get an e-mail link valid for 7 days."),
    ("Can I change the currency on my invoices?",
     "Invoices use your billing country's currency. Support can switch it from the next billing cycle."),
    ("How do I turn on two-factor authentication?",
     "Open Settings, choose Security and enable Two-factor authentication with an authenticator app."),
    ("Where can I download my past invoices?",
     "Every invoice is under Billing, Invoices; each one downloads as a PDF."),
)
NEW_TOPIC = (
    "My CSV export fails since the data residency migration to Frankfurt, what happened?",
    "After the data residency migration our scheduled export to S3 stopped working.",
    "Exports time out since you moved our workspace data to the EU region, is the migration finished?",
    "Why does the export say 'region mismatch' after the data residency migration?",
)
NEW_TOPIC_ANSWER = ("Exports created before the data residency migration point at the old region. Recreate the "
                    "export from Settings, Data, Exports and it will run in the new region.")
DETAIL = (" If that does not help, the help center article linked below walks through every step with screenshots,"
          " and our support team answers within a business day.")


def shift_events(*, seed: int, calls: int, days: float, end: datetime) -> list[dict[str, Any]]:
    """Help-center calls of both prompt versions, before and after the switch (same event shape as the
    rest of the demo: dashboards.demo). Ids depend on the seed, so a re-run is skipped as duplicates.
    None for a demo shorter than the 3 days the baseline needs (two days before the switch)."""
    if days < 3:
        return []
    rng = random.Random(seed * 7919 + 15)
    switch = end - SWITCH
    # 300 a side in the default demo of 1,500 calls; at least 100, drift's minimum sample per side.
    per_side = max(100, int(calls * SHARE))
    events = []
    for i in range(2 * per_side):
        after = i >= per_side
        if after:
            when = switch + timedelta(hours=2) + timedelta(seconds=rng.uniform(0, SWITCH.total_seconds() - 3 * 3600))
            question, answer = ((rng.choice(NEW_TOPIC), NEW_TOPIC_ANSWER) if rng.random() < NEW_TOPIC_SHARE
                                else rng.choice(QUESTIONS))
            answer = answer + DETAIL  # version 2 explains more: about twice as long
            answer = answer + " " + answer
        else:
            when = switch - timedelta(days=2) + timedelta(seconds=rng.uniform(0, 2 * 86400 - 3600))
            question, answer = rng.choice(QUESTIONS)
            answer = answer + DETAIL
        tokens_out = max(len(answer) // 4 + rng.randint(-8, 8), 1)
        latency = rng.lognormvariate(6.4, 0.3) + tokens_out * 12
        events.append({
            "type": "call", "id": f"demo-{seed}-help-{i:04d}", "kind": "llm", "name": PROMPT, "timestamp": when,
            "provider": "openai", "model": "gpt-4o-mini", "operation": "chat", "feature": FEATURE, "team": TEAM,
            "environment": "production", "release": "v42", "tags": ["demo"],
            "user_id": f"user-{rng.randint(1, 40):02d}", "session_id": f"demo-{seed}-help-s{i // 3:04d}",
            "prompt": {"name": PROMPT, "version": "2" if after else "1"}, "latency_ms": round(latency, 1),
            "input": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}],
            "output": {"role": "assistant", "content": answer}, "metadata": {"finish_reason": "stop"},
            "usage": {"input_tokens": 180 + rng.randint(0, 60), "output_tokens": tokens_out}})
    return events


def demo_drift_run(*, project_id: int) -> None:
    """A drift run over the freshly processed demo, so the page has findings before beat's first tick."""
    from django.utils import timezone

    from drift.services import drift_run
    from tenancy.models import Project

    drift_run(project=Project.objects.get(pk=project_id), now=timezone.now())
