"""Schemathesis over the whole API, in process: every operation of the served OpenAPI document
(/api/schema/), of every app, gets schema-valid and schema-violating requests (positive and negative
generation), and every check must pass: no answer may be a 5xx, and every answer must be one the
document declares (status, content type, headers, body); schema-valid requests are accepted and
schema-violating ones refused, except where noted below; an unauthenticated request meets 401.

Bounded for CI: MAX_EXAMPLES per operation in each of the examples and fuzzing phases, a fixed seed,
derandomized, about a second per operation. Schemathesis's coverage phase (every boundary value and
type mutation of every parameter: unbounded, four times the cost) runs when asked, as does a longer
search: OBSERVATORY_FUZZ_COVERAGE=1 OBSERVATORY_FUZZ_EXAMPLES=200 pytest tests/observatory/test_openapi_fuzz.py
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from observatory.wsgi import application
from tenancy.services import api_key_create

MAX_EXAMPLES = int(os.environ.get("OBSERVATORY_FUZZ_EXAMPLES", "25"))
COVERAGE = os.environ.get("OBSERVATORY_FUZZ_COVERAGE", "") not in ("", "0")
# Query parameters whose validity no schema can state: a range must have `from` before `to` and lie in
# the years 1-9999 once in UTC, an opaque cursor (calls, audit) must be one the API returned, `tz` must
# be an IANA zone, score_* measures need `score`, an interval may not give more than 5,000 points. A
# schema-valid request may therefore get a 400 (with the error body); every other status stays as
# strict as the defaults.
# Likewise the corrections (PATCH): a NUL character anywhere, or `metadata` over 16 KB of JSON, is refused,
# which a schema cannot say of a free-form object; and rendering a prompt with variables its stored
# template does not have.
POSITIVE_OR_400 = ["2xx", "400", "401", "403", "404", "409", "429"]
# Batch endpoints refuse a bad item on its own and store the rest: 207 names what was refused.
# 413 is the refusal of a batch over the item limit.
BATCH_NEGATIVE = ["207", "400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "429"]
NEGATIVE = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "429"]

CONFIG = schemathesis.Config.from_dict({
    "seed": 20261203,
    "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large", "large_base_example"],
    "phases": {"coverage": {"enabled": COVERAGE}},
    "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "deterministic": True,
                   # The key is sent by the test (below); generated credentials would only meet 401s.
                   "with-security-parameters": False},
    # A 5xx is never the refusal of a bad request (the default list counts it as one); 413 is.
    "checks": {"negative_data_rejection": {"expected-statuses": NEGATIVE}},
    "operations": [
        {"include-path-regex": "^/api/v1/(calls|traces|metrics|audit)", "include-method": "GET",
         "checks": {"positive_data_acceptance": {"expected-statuses": POSITIVE_OR_400}}},
        {"include-path-regex": "^/api/v1/(scores|feedback)/", "include-method": "PATCH",
         "checks": {"positive_data_acceptance": {"expected-statuses": POSITIVE_OR_400}}},
        {"include-path-regex": "^/api/v1/prompts/[^/]+/render$",
         "checks": {"positive_data_acceptance": {"expected-statuses": POSITIVE_OR_400}}},
        # A schema-valid batch whose every event is refused for its meaning (a time outside the
        # accepted window) answers 422 with the per-item body.
        {"include-path-regex": "^/api/(v1/ingest|public/scores$|public/ingestion)",
         "checks": {"negative_data_rejection": {"expected-statuses": BATCH_NEGATIVE},
                    "positive_data_acceptance": {"expected-statuses": ["2xx", "422"]}}},
    ],
})
schema = schemathesis.openapi.from_wsgi("/api/schema/", application, config=CONFIG)
@pytest.fixture(autouse=True)
def _keep_test_connection() -> Iterator[None]:
    # Django's test client does this too: the WSGI handler would otherwise close the connection that
    # holds the test's transaction at the end of each request.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture(autouse=True)
def _no_unknown_key_limit(settings: Any) -> None:
    # The ignored-auth check sends dozens of wrong keys from one address, which the unknown-key limit
    # rightly answers with 429 after 20 (tests/observatory/test_security.py); here they must meet 401.
    settings.OBSERVATORY_UNKNOWN_KEY_RATE = None


@pytest.fixture
def key(project: Any) -> str:
    return api_key_create(project=project, scopes=["ingest", "read"]).raw_key


@pytest.mark.django_db
@schema.parametrize()
@settings(deadline=None, derandomize=True, print_blob=True, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented(case: Any, key: str) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {key}"})
