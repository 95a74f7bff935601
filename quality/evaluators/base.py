"""What every evaluator sees and returns. Evaluators are pure functions of a call's text: no
database, no network (except the LLM judge), so each is tested on its own with plain strings."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from quality.evaluators.cut import IngestCut, ingest_cut

SEVERITIES = ("low", "medium", "high", "critical")


@dataclass(frozen=True)
class Sample:
    """A call flattened to text. Chat messages are joined role by role by the caller."""

    input_text: str = ""  # the user-side input (last user turn first is not assumed: all user turns)
    output_text: str = ""  # the model's answer
    system_text: str = ""  # system prompt / instructions, when sent
    context_text: str = ""  # retrieved context (RAG), when sent
    finish_reason: str = ""  # "stop", "length", "content_filter", ... ("" when unknown)
    json_requested: bool = False  # response_format json / json mode was asked for
    model: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    # Who the call was: evaluators that sample or filter (the LLM judge) read these.
    project_id: int = 0
    call_id: int = 0
    feature: str = ""
    prompt_name: str = ""
    prompt_version: str = ""
    # Fields ("input", "output", "context") cut because they were huge (quality.batch.PAYLOAD_CAP,
    # quality.samples): their text is the start and the end only, so whole-text checks (JSON
    # validity) must not judge them.
    truncated: tuple[str, ...] = ()
    # Fields ingest stored truncated (over its payload limit), by name: their text above is the
    # preview ingest kept, and they are in `truncated` too. Filled from the marker by __post_init__.
    cut_at_ingest: dict[str, IngestCut] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Every Sample goes through here (the worker, the judge, tests), so no evaluator ever reads
        # ingest's marker object as if it were the answer.
        cuts = {name: cut for name, attr in _CUT_FIELDS if (cut := ingest_cut(getattr(self, attr))) is not None}
        if not cuts:
            return
        for name, cut in cuts.items():
            object.__setattr__(self, dict(_CUT_FIELDS)[name], cut.preview)
        object.__setattr__(self, "cut_at_ingest", {**self.cut_at_ingest, **cuts})
        object.__setattr__(self, "truncated", tuple(sorted({*self.truncated, *cuts})))


_CUT_FIELDS = (("input", "input_text"), ("output", "output_text"), ("context", "context_text"))


def bounded(text: str, limit: int) -> str:
    """The start (80%) and the end (20%) of a text longer than `limit`: where greetings, answers,
    sign-offs and tacked-on payloads sit. Evaluators read at most this, so a 5 MB output costs no
    more than a `limit`-sized one."""
    if len(text) <= limit:
        return text
    head = limit * 4 // 5
    return text[:head] + "\n" + text[-(limit - head):]


@dataclass(frozen=True)
class ScoreResult:
    name: str  # e.g. "toxicity", "pii.count", "groundedness"
    value: float | None
    label: str = ""  # short verdict, e.g. "toxic", "clean", "refusal"
    reasons: tuple[str, ...] = ()  # human-readable, never the matched secret itself


@dataclass(frozen=True)
class FlagResult:
    name: str  # e.g. "pii.email", "prompt_injection", "toxicity"
    severity: str  # one of SEVERITIES
    detail: str = ""  # human-readable; must not repeat a secret or PII value in clear


@dataclass
class Result:
    scores: list[ScoreResult] = field(default_factory=list)
    flags: list[FlagResult] = field(default_factory=list)


class Evaluator(Protocol):
    """One quality check. `config` is the project's settings for it (thresholds, on/off already
    applied by the caller); `defaults` documents the keys it understands."""

    name: str
    defaults: dict[str, Any]
    # Which way is better for each score it writes ({name, or a prefix ending in ".": "higher" |
    # "lower"}), and the flags it raises (names, or prefixes ending in "."). Dashboards, alerts and
    # experiments read these through quality.selectors.
    score_directions: dict[str, str]
    flag_names: tuple[str, ...]
    # The score it gives (with a value) whenever it could judge a call: its count is the number
    # of calls it evaluated, the denominator of its flag rates.
    evaluated_score: str

    def evaluate(self, sample: Sample, config: dict[str, Any]) -> Result: ...
