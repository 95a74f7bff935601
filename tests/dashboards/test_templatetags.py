"""The number formats every page shares (dashboards/templatetags/obs.py)."""
from __future__ import annotations

from decimal import Decimal

import pytest

from dashboards.templatetags.obs import usd


@pytest.mark.parametrize(("amount", "shown"), [
    (None, "–"), (0, "$0.00"), (Decimal("0.0000345"), "$0.000034"), (0.00001, "$0.00001"),
    (Decimal("0.000000123456"), "$0.00000012"), (0.00012, "$0.00012"), (0.0123, "$0.012"), (0.5, "$0.50"),
    (0.0996, "$0.10"), (12.345, "$12.35"), (123456, "$123,456.00"), (Decimal("-0.25"), "-$0.25"),
])
def test_small_amounts_keep_two_significant_digits_and_never_read_as_zero(amount: object, shown: str) -> None:
    assert usd(amount) == shown
