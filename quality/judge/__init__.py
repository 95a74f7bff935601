"""LLM-as-judge: each enabled Judge of a project becomes an evaluator that asks an OpenAI-compatible
endpoint for a verdict on a call (quality/judge/client.py), parses it strictly
(quality/judge/prompt.py), and records usage and cost per judge and day.
"""
from __future__ import annotations

import logging
import secrets
from datetime import date
from decimal import Decimal
from typing import Any

from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import connection
from django.utils import timezone

from observatory.env import env_str
from pricing.catalog import cost_fields
from quality.evaluators.base import Evaluator, FlagResult, Result, Sample
from quality.judge.client import Reply, chat_complete
from quality.judge.prompt import (
    BREAKER_FAILURES,
    FLAG_SEVERITY,
    JudgeError,
    JudgeScore,
    _content,
    _tokens,
    messages_build,
    verdict_parse,
)
from quality.models import Judge, JudgeTemplate, JudgeUsage, validate_key_env

log = logging.getLogger(__name__)


# --- the evaluator --------------------------------------------------------------------------------

_USAGE_SQL = """
INSERT INTO quality_judgeusage AS u (project_id, judge_id, day, calls, failures, retries, input_tokens,
                                     output_tokens, cost_usd, unpriced_calls)
VALUES (%s, %s, %s, 1, %s, %s, %s, %s, %s, %s)
ON CONFLICT (judge_id, day) DO UPDATE SET calls = u.calls + 1, failures = u.failures + EXCLUDED.failures,
    retries = u.retries + EXCLUDED.retries, input_tokens = u.input_tokens + EXCLUDED.input_tokens,
    output_tokens = u.output_tokens + EXCLUDED.output_tokens, cost_usd = u.cost_usd + EXCLUDED.cost_usd,
    unpriced_calls = u.unpriced_calls + EXCLUDED.unpriced_calls
"""


def _api_key(name: str) -> str:
    if not name:
        return ""
    try:
        validate_key_env(name)  # again here: a row written around the admin form must not read other secrets
        value = env_str(name)
    except (ValidationError, ImproperlyConfigured) as exc:
        raise JudgeError(f"api_key_env {name}: {'; '.join(getattr(exc, 'messages', [str(exc)]))}") from None
    if not value:
        raise JudgeError(f"the environment variable {name} is not set for the workers")
    return value.strip()


class JudgeEvaluator:
    """One Judge for one evaluation run. The run's state lives here (failures in a row, whether the
    endpoint takes response_format): judge_evaluators makes new instances for each project_evaluate."""

    source = "judge"
    defaults: dict[str, Any] = {
        "template": JudgeTemplate.HELPFULNESS, "criterion": "", "base_url": "", "api_key_env": "", "model": "",
        "temperature": 0.0, "threshold": 0.5, "sample_rate": 1.0, "only_models": [], "only_features": [],
        "only_prompt_names": [], "daily_budget_usd": None, "timeout_s": 20.0, "max_retries": 2,
    }

    def __init__(self, judge: Judge) -> None:
        self.name = f"judge.{judge.name}"
        self.judge_id, self.project_id = judge.id, judge.project_id
        self.failures_in_a_row = 0
        self.last_failure = ""
        self.json_mode = True

    def evaluate(self, sample: Sample, config: dict[str, Any]) -> Result:
        if not self._selected(sample, config) or not sample.output_text.strip():
            return Result()
        today = timezone.now().date()
        cap = config["daily_budget_usd"]
        if cap is not None:
            spent = JudgeUsage.objects.filter(judge_id=self.judge_id, day=today).values_list(
                "cost_usd", flat=True).first() or Decimal(0)
            if spent >= cap:
                raise JudgeError(f"daily budget reached: ${spent:.4f} spent of ${cap} (UTC day {today})")
        if self.failures_in_a_row >= BREAKER_FAILURES:
            raise JudgeError(f"not called: the endpoint failed {self.failures_in_a_row} times in a row in this "
                             f"run (last: {self.last_failure})")
        api_key = _api_key(config["api_key_env"])
        payload: dict[str, Any] = {
            "model": config["model"],
            "messages": messages_build(template=config["template"], criterion=config["criterion"], sample=sample,
                                       boundary=secrets.token_hex(16)),
        }
        if config["temperature"] is not None:
            payload["temperature"] = config["temperature"]
        try:
            reply = self._send(payload, config, api_key)
        except JudgeError as exc:
            self.failures_in_a_row += 1
            self.last_failure = str(exc)[:200]
            log.warning("%s of project %s: %s", self.name, self.project_id, exc)
            self._record(today, failed=True, retries=exc.retries, tokens=(None, None, None), cost=None,
                         responded=False)
            raise
        self.failures_in_a_row = 0
        tokens = _tokens(reply.body)
        cost = self._cost(config["model"], today, tokens)
        usage = {"model": config["model"], "input_tokens": tokens[0], "output_tokens": tokens[1],
                 "cost_usd": None if cost is None else float(cost), "retries": reply.retries}
        try:
            verdict = verdict_parse(_content(reply.body))
        except JudgeError:
            self._record(today, failed=True, retries=reply.retries, tokens=tokens, cost=cost, responded=True)
            raise
        self._record(today, failed=False, retries=reply.retries, tokens=tokens, cost=cost, responded=True)
        score = JudgeScore(name=self.name, value=verdict.score, label=verdict.label, reasons=(verdict.reason,),
                           metadata={"judge": usage})
        flags = []
        if verdict.score < config["threshold"]:
            flags.append(FlagResult(self.name, FLAG_SEVERITY, f"{verdict.score:.2f} {verdict.label}: {verdict.reason}"))
        return Result(scores=[score], flags=flags)

    def _selected(self, sample: Sample, config: dict[str, Any]) -> bool:
        for key, value in (("only_models", sample.model), ("only_features", sample.feature),
                           ("only_prompt_names", sample.prompt_name)):
            if config[key] and value not in config[key]:
                return False
        rate = config["sample_rate"]
        if rate >= 1:
            return True
        # The same hash as the project's sample rate, so a judge's calls are a subset of the
        # evaluated ones and a re-score picks them again.
        from quality.batch import sampled

        return sampled(sample.call_id, rate)

    def _send(self, payload: dict[str, Any], config: dict[str, Any], api_key: str) -> Reply:
        send = {"base_url": config["base_url"], "api_key": api_key, "timeout_s": config["timeout_s"],
                "max_retries": config["max_retries"]}
        if self.json_mode:
            try:
                return chat_complete(payload={**payload, "response_format": {"type": "json_object"}}, **send)
            except JudgeError as exc:
                if exc.status != 400:
                    raise
                # Many compatible servers refuse response_format; the prompt asks for JSON anyway.
                self.json_mode = False
        return chat_complete(payload=payload, **send)

    def _cost(self, model: str, today: date, tokens: tuple[int | None, int | None, int | None]) -> Decimal | None:
        fields = cost_fields(project_id=self.project_id, provider="", model=model, on=today, input_tokens=tokens[0],
                             output_tokens=tokens[1], cached_input_tokens=tokens[2])
        total = fields["cost_total_usd"]
        return total if isinstance(total, Decimal) else None

    def _record(self, today: date, *, failed: bool, retries: int, tokens: tuple[int | None, int | None, int | None],
                cost: Decimal | None, responded: bool) -> None:
        # In the batch's transaction: a rolled-back batch forgets its usage (and is judged again).
        with connection.cursor() as cur:
            cur.execute(_USAGE_SQL, [self.project_id, self.judge_id, today, int(failed), retries, tokens[0] or 0,
                                     tokens[1] or 0, cost or Decimal(0), int(responded and cost is None)])


def _config(judge: Judge) -> dict[str, Any]:
    return {key: getattr(judge, key) for key in JudgeEvaluator.defaults}


def judge_evaluators(project_id: int) -> list[tuple[Evaluator, dict[str, Any]]]:
    """The project's enabled judges as (evaluator, config), named judge.<name>, in name order."""
    judges = Judge.objects.filter(project_id=project_id, enabled=True).order_by("name")
    return [(JudgeEvaluator(judge), _config(judge)) for judge in judges]
