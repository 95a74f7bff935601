"""PII and secret detection, redaction and the pii evaluator. Every value here is a published test
value or obviously fake; keys are built by concatenation so that secret scanners stay quiet."""
from __future__ import annotations

import copy
from itertools import pairwise
from typing import Any

import pytest

from quality.evaluators.base import SEVERITIES, Sample
from quality.evaluators.pii import (
    PII_TYPES,
    PLACEHOLDERS,
    SECRET_TYPES,
    Match,
    PiiEvaluator,
    find,
    redact,
    redact_json,
)
from quality.evaluators.pii_patterns import iban_ok, luhn_ok

# Fake secrets, assembled at run time.
OPENAI_KEY = "sk-" + "proj-" + "Ab1Cd2Ef3Gh4" * 4
OPENAI_LEGACY_KEY = "sk-" + "aB3dE" * 10
ANTHROPIC_KEY = "sk-" + "ant-api03-" + "Xy9_Zw8-" * 10
GOOGLE_KEY = "AI" + "za" + "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q"
GITHUB_TOKEN = "gh" + "p_" + "aB1cD2eF3gH4" * 3
GITHUB_OAUTH = "gh" + "o_" + "Zz9Yy8Xx7Ww6" * 3
GITHUB_PAT = "github" + "_pat_" + "11ABCDEFG0aBcDeFgHiJkL_" + "mNoPqRsTuV1234567890aBcDeFgHiJkLmNoPqRsTuVwXyZ012345"
SLACK_TOKEN = "xo" + "xb-" + "123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
STRIPE_KEY = "sk" + "_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
STRIPE_RESTRICTED = "rk" + "_live_" + "51H8aBcDeFgHiJkLmNoPqRs"
AWS_KEY_ID = "AK" + "IA" + "IOSFODNN7EXAMPLE"
AWS_SESSION_KEY_ID = "AS" + "IA" + "Q3EGUBZ7EXAMPLE1"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY"
JWT = ".".join(["eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9", "eyJzdWIiOiIxMjM0NTY3ODkwIn0",
                "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"])
PRIVATE_KEY = ("-----BEGIN RSA " + "PRIVATE KEY-----\nMIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM2\nLb8kZzzzFAKEFAKE\n"
               "-----END RSA " + "PRIVATE KEY-----")


def found(text: str, types: list[str] | None = None) -> list[tuple[str, str]]:
    return [(m.type, text[m.start : m.end]) for m in find(text, types)]


# ---- e-mail -----------------------------------------------------------------------------------
@pytest.mark.parametrize("email", ["john.doe@example.com", "j.doe+news@mail.example.co.uk", "a_b-c@sub.example.org"])
def test_it_finds_emails(email: str) -> None:
    assert found(f"Write to {email}, thanks.") == [("email", email)]


def test_it_finds_an_email_after_mailto() -> None:
    assert found("<a href='mailto:jane@example.com'>") == [("email", "jane@example.com")]


@pytest.mark.parametrize(
    "text",
    [
        "git clone git@github.com:org/repo.git",  # an scp-style remote
        "<img src='icon@2x.png'>",  # a retina asset
        "@dataclass\nclass A: ...",
        "ssh root@localhost",  # no top-level domain
        "x = a @ b.T",  # matrix product
    ],
)
def test_it_ignores_things_that_only_look_like_emails(text: str) -> None:
    assert found(text) == []


# ---- phone numbers ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "phone",
    ["+44 20 7946 0958", "+1-202-555-0143", "+33 6 12 34 56 78", "+44 (0)20 7946 0958", "+14155552671",
     "+49 30 1234567"],
)
def test_it_finds_international_phone_numbers(phone: str) -> None:
    assert found(f"Call {phone} today") == [("phone", phone)]


@pytest.mark.parametrize("phone", ["(202) 555-0143", "(202)555-0143", "202-555-0143", "202.555.0143", "1-800-555-0199"])
def test_it_finds_north_american_phone_numbers(phone: str) -> None:
    assert found(f"Call {phone} today") == [("phone", phone)]


@pytest.mark.parametrize(
    "phone", ["020 7946 0958", "07700 900123", "06 12 34 56 78", "01.23.45.67.89", "030 1234567", "(020) 7946 0958"]
)
def test_it_finds_trunk_prefixed_national_phone_numbers(phone: str) -> None:
    assert found(f"Call {phone} today") == [("phone", phone)]


@pytest.mark.parametrize(
    "text",
    [
        "Order 1234567890 shipped",  # bare digits: an order number, not a phone
        "order #0123-4567-89",
        "released on 2024-01-15 at 10:30:45",
        "due 15/01/2024 10:30",
        "on 01.02.2023 12 people came",
        "it costs $1,234,567.89",
        "ref 12345-555-123-4567-99",  # phone-shaped slice of a longer run
        "code 555-123-45678",
        "pi is 3.14159265358979",
        "unix time 1700000000",
        "build 20240115.1234.5",
    ],
)
def test_it_ignores_numbers_that_are_not_phones(text: str) -> None:
    assert found(text) == []


def test_it_keeps_the_number_when_a_short_count_follows() -> None:
    assert found("Call 202-555-0143 24/7") == [("phone", "202-555-0143")]


# ---- payment cards ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "card",
    [
        "4111 1111 1111 1111",  # Visa test number
        "4111-1111-1111-1111",
        "4111111111111111",
        "5555 5555 5555 4444",  # Mastercard
        "3782 822463 10005",  # Amex, 4-6-5
        "378282246310005",
        "6011 1111 1111 1117",  # Discover
        "4222222222222",  # 13-digit Visa
    ],
)
def test_it_finds_luhn_valid_cards_with_spaces_dashes_or_none(card: str) -> None:
    assert found(f"Paid with {card}.") == [("card", card)]


def test_it_keeps_a_card_followed_by_its_expiry_or_security_code() -> None:
    assert found("4111 1111 1111 1111 12/27") == [("card", "4111 1111 1111 1111")]
    assert found("4111 1111 1111 1111 123 exp 12/27") == [("card", "4111 1111 1111 1111")]


def test_it_finds_each_card_in_a_comma_separated_list() -> None:
    assert found("4111111111111111,5555555555554444") == [("card", "4111111111111111"), ("card", "5555555555554444")]


def test_it_finds_a_19_digit_card_in_groups() -> None:
    assert luhn_ok("4000000000000000006")
    assert found("card 4000 0000 0000 0000 006") == [("card", "4000 0000 0000 0000 006")]


def test_it_ignores_order_numbers_failing_luhn() -> None:
    assert not luhn_ok("4111111111111112")
    assert found("Order 4111 1111 1111 1112 is on its way") == []


def test_it_ignores_16_digit_ids_failing_luhn() -> None:
    assert found("id=1234567812345678") == []


def test_it_ignores_luhn_valid_numbers_without_a_card_issuer_prefix() -> None:
    assert luhn_ok("1234567812345670")
    assert found("ts 1234567812345670 and 8888888888888888") == []


@pytest.mark.parametrize(
    "text",
    [
        "x = 0.4111111111111111",  # digits after a decimal point
        "mask 0x4111111111111111",  # hex literal
        "hash 4111111111111111abcdef",  # start of a hex digest
        "acct 1234 4111 1111 1111 1111 5678",  # inside a longer run of groups
        "acct 4111 1111 1111 1111 5678",  # followed by another group of four
        "blank 0000 0000 0000 0000",
        "mixed 4111 1111-1111 1111",  # inconsistent separators
    ],
)
def test_it_ignores_card_shaped_digits_in_code_and_longer_numbers(text: str) -> None:
    assert found(text, ["card"]) == []


# ---- IBAN -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "iban",
    ["GB82 WEST 1234 5698 7654 32", "GB82WEST12345698765432", "DE89 3704 0044 0532 0130 00", "NL91ABNA0417164300",
     "FR14 2004 1010 0505 0001 3M02 606", "NO93 8601 1117 947"],
)
def test_it_finds_checksum_valid_ibans(iban: str) -> None:
    assert found(f"Pay to {iban}.") == [("iban", iban)]


@pytest.mark.parametrize(
    "text",
    [
        "GB82 WEST 1234 5698 7654 33",  # checksum off by one
        "GB82 WEST 1234 5698 7654",  # too short for GB
        "QZ82 WEST 1234 5698 7654 32",  # no such country
        "GB82WEST12345698765432XY",  # runs on into a longer code
        "gb82 west 1234 5698 7654 32",  # lower case is not matched
    ],
)
def test_it_ignores_ibans_with_a_wrong_checksum_length_or_country(text: str) -> None:
    assert found(text) == []


def test_it_stops_an_iban_at_its_countrys_length() -> None:
    assert found("IBAN GB82 WEST 1234 5698 7654 32 1234") == [("iban", "GB82 WEST 1234 5698 7654 32")]


def test_iban_check_is_iso_mod_97() -> None:
    assert iban_ok("GB82WEST12345698765432")
    assert not iban_ok("GB82WEST12345698765431")


def test_an_iban_wins_over_the_phone_shaped_digits_inside_it() -> None:
    # "0417 1643 00" alone would pass for a national phone number.
    assert found("NL91 ABNA 0417 1643 00") == [("iban", "NL91 ABNA 0417 1643 00")]
    assert found("NL91 ABNA 0417 1643 00", ["phone"]) == []


# ---- national ids -----------------------------------------------------------------------------
@pytest.mark.parametrize("ssn", ["123-45-6789", "123 45 6789"])
def test_it_finds_us_ssns_in_strict_format(ssn: str) -> None:
    assert found(f"SSN on file: {ssn}.") == [("ssn", ssn)]


@pytest.mark.parametrize("ssn", ["000-12-3456", "666-12-3456", "900-12-3456", "123-00-4567", "123-45-0000"])
def test_it_ignores_never_issued_ssns(ssn: str) -> None:
    assert found(f"SSN {ssn}") == []


def test_it_needs_the_word_ssn_for_nine_bare_digits() -> None:
    assert found("SSN: 123456789") == [("ssn", "123456789")]
    assert found("ticket 123456789") == []


@pytest.mark.parametrize("nino", ["AB 12 34 56 C", "AB123456C"])
def test_it_finds_uk_national_insurance_numbers(nino: str) -> None:
    assert found(f"NI number {nino}.") == [("nino", nino)]


@pytest.mark.parametrize("nino", ["QQ123456C", "GB123456A", "AO123456A", "AB123456E", "AB 12 3456 C", "XAB123456C"])
def test_it_ignores_invalid_ninos(nino: str) -> None:
    assert found(f"ref {nino}") == []


@pytest.mark.parametrize("dni", ["12345678Z", "12345678-Z", "X1234567L"])
def test_it_finds_spanish_dni_and_nie_with_a_valid_letter(dni: str) -> None:
    assert found(f"DNI {dni}") == [("dni", dni)]


def test_it_ignores_a_dni_with_the_wrong_letter() -> None:
    assert found("DNI 12345678A") == []


def test_it_finds_a_dutch_bsn_passing_the_11_proof_next_to_its_name() -> None:
    assert found("BSN: 111222333") == [("bsn", "111222333")]
    assert found("burgerservicenummer 111222333") == [("bsn", "111222333")]


def test_it_ignores_a_bsn_without_its_name_or_failing_the_11_proof() -> None:
    assert found("invoice 111222333") == []
    assert found("BSN: 111222334") == []


# ---- IP addresses -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "ip", ["192.168.1.20", "8.8.8.8", "203.0.113.7", "2001:db8::8a2e:370:7334", "fe80::1", "2001:db8:0:0:0:ff00:42:83"]
)
def test_it_finds_ip_addresses(ip: str) -> None:
    assert found(f"from {ip}.") == [("ip", ip)]


def test_a_bare_dotted_quad_counts_as_an_ip_even_if_it_could_be_a_version() -> None:
    # Decided: without a word saying "version" right before it, 1.2.3.4 is an address.
    assert found("host 1.2.3.4") == [("ip", "1.2.3.4")]


@pytest.mark.parametrize(
    "text",
    [
        "version 1.2.3.4", "v1.2.3.4", "Version: 10.0.19041.1", "pkg==1.2.3.4", "assert version == '1.2.3.4'",
        "127.0.0.1", "bind 0.0.0.0", "netmask 255.255.255.0", "224.0.0.1",  # point at nobody
        "999.1.1.1", "01.02.03.04", "oid 1.3.6.1.4.1", "1.2.3", "at 12:30:45", "std::vector<int>",
        "Cafe::Beef", "mac 00:1A:2B:3C:4D:5E", "::1",
    ],
)
def test_it_ignores_versions_loopback_and_ip_shaped_code(text: str) -> None:
    assert found(text) == []


# ---- secrets ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "key",
    [OPENAI_KEY, OPENAI_LEGACY_KEY, ANTHROPIC_KEY, GOOGLE_KEY, GITHUB_TOKEN, GITHUB_OAUTH, GITHUB_PAT, SLACK_TOKEN,
     STRIPE_KEY, STRIPE_RESTRICTED, AWS_KEY_ID, AWS_SESSION_KEY_ID, JWT],
)
def test_it_finds_provider_api_keys_and_tokens(key: str) -> None:
    assert found(f"use {key} here") == [("secret", key)]


def test_it_finds_an_aws_secret_key_next_to_its_name() -> None:
    assert found(f"aws_secret_access_key = {AWS_SECRET}") == [("secret", AWS_SECRET)]
    assert found(f"export AWS_SECRET_ACCESS_KEY={AWS_SECRET}") == [("secret", AWS_SECRET)]


def test_it_ignores_forty_base64_characters_with_no_name() -> None:
    assert found(f"checksum {AWS_SECRET}") == []


def test_it_finds_a_random_value_assigned_to_a_key_name() -> None:
    value = "q1W2e3R4t5Y6" + "u7I8o9P0"
    assert found(f'OPENAI_API_KEY="{value}"') == [("secret", value)]
    assert found(f'{{"client_secret": "{value}"}}') == [("secret", value)]


@pytest.mark.parametrize(
    "text",
    ["Authorization: Bearer abc123DEF456ghi789", '{"Authorization": "Bearer abc123DEF456ghi789"}',
     "curl -H 'authorization: bearer abc123DEF456ghi789'"],
)
def test_it_finds_bearer_tokens_in_authorization_headers(text: str) -> None:
    assert found(text) == [("secret", "abc123DEF456ghi789")]


def test_it_finds_the_password_in_a_url_but_not_the_rest() -> None:
    text = "DATABASE_URL=postgres://app:" + "s3cr3tPw" + "@db.example.com:5432/app"
    assert found(text) == [("secret", "s3cr3tPw")]


@pytest.mark.parametrize(
    "text",
    [
        "pip install sk-learn-is-a-library-name-v2",
        "OPENAI_API_KEY=sk-proj-XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
        "Authorization: Bearer YOUR_TOKEN_HERE",
        "Authorization: Bearer $TOKEN",
        "AKIAXXXXXXXXXXXXXXXX",
        "api_key = os.environ['OPENAI_API_KEY']",
        "headers = {'Authorization': f'Bearer {token}'}",
        "postgres://user:${DB_PASSWORD}@db/app",
        "task-1234567890abcdefghij",  # "sk-" inside a word
    ],
)
def test_it_ignores_placeholders_and_code_that_reference_secrets(text: str) -> None:
    assert found(text) == []


def test_it_finds_private_key_blocks() -> None:
    text = f"Here it is:\n{PRIVATE_KEY}\nKeep it safe."
    assert found(text) == [("private_key", PRIVATE_KEY)]


def test_it_finds_a_private_key_block_cut_off_before_its_end() -> None:
    block = "-----BEGIN OPENSSH " + "PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\nAAAAAAAABAAAAMwAAAAt"
    assert found(block + "\n\nThe rest was cut.") == [("private_key", block)]


def test_it_ignores_public_keys() -> None:
    assert found("-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCg\n-----END PUBLIC KEY-----") == []


# ---- ordinary text and code -------------------------------------------------------------------
CODE = '''
import hashlib, uuid

VERSION = "1.2.3"
def handler(event: dict) -> dict:
    """Compute 3.14159265358979 * r ** 2 for 1000000 items."""
    rid = uuid.UUID("550e8400-e29b-41d4-a716-446655440000")
    digest = hashlib.sha1(b"x").hexdigest()  # 3f786850e387550fdab836ed7e6dc881de23001b
    ts = 1700000000000
    price = 1234.56
    when = "2024-01-15T10:30:00Z"
    return {"id": str(rid), "items": [1, 2, 3, 4096, 65535], "mask": 0xFFFFFFFF, "ratio": 0.75}
'''


def test_it_finds_nothing_in_ordinary_python_code() -> None:
    assert find(CODE) == []


def test_it_finds_nothing_in_ordinary_prose_with_numbers() -> None:
    text = (
        "In Q3 2023 revenue grew 12.5% to $1,234,567.89 across 42 regions (see section 3.2.1). "
        "The meeting moved from 10:30 to 14:00 on 2024-01-15; ticket #84721 and order 1234567890 "
        "are closed. Python 3.11.7 and Django 5.2 are required; chapter 7, pages 120-135."
    )
    assert find(text) == []


# ---- find() -----------------------------------------------------------------------------------
MIXED = (
    f"Hi, I'm jane@example.com, card 4111 1111 1111 1111, call +44 20 7946 0958. "
    f"Server 192.168.1.20, key {OPENAI_KEY}, IBAN GB82 WEST 1234 5698 7654 32."
)


def test_matches_are_sorted_and_never_overlap() -> None:
    matches = find(MIXED)
    assert [m.type for m in matches] == ["email", "card", "phone", "ip", "secret", "iban"]
    assert all(a.end <= b.start for a, b in pairwise(matches))


def test_match_is_a_frozen_dataclass() -> None:
    match = find("jane@example.com")[0]
    assert match == Match("email", 0, 16)
    with pytest.raises(AttributeError):
        match.start = 3  # type: ignore[misc]


def test_types_limit_what_is_reported() -> None:
    assert [m.type for m in find(MIXED, ["email", "card"])] == ["email", "card"]
    assert [m.type for m in find(MIXED, SECRET_TYPES)] == ["secret"]
    assert [m.type for m in find(MIXED, "ip")] == ["ip"]  # one name alone is accepted too


def test_it_rejects_unknown_types() -> None:
    with pytest.raises(ValueError, match="passport"):
        find("x", ["email", "passport"])


def test_the_more_specific_match_wins_an_overlap() -> None:
    # The local part is a phone number, but the whole is an address.
    assert found("text +14155552671@sms.example.com") == [("email", "+14155552671@sms.example.com")]


def test_empty_text_has_no_matches() -> None:
    assert find("") == []


def test_pii_types_lists_every_detector_with_a_placeholder() -> None:
    assert set(SECRET_TYPES) <= set(PII_TYPES)
    assert {"email", "phone", "card", "iban", "ssn", "ip", "secret"} <= set(PII_TYPES)
    assert PLACEHOLDERS["email"] == "[EMAIL]" and PLACEHOLDERS["private_key"] == "[PRIVATE_KEY]"


# ---- redact() ---------------------------------------------------------------------------------
def test_redact_replaces_each_match_with_its_typed_placeholder_and_counts_types() -> None:
    text, counts = redact("Mail jane@example.com or john@example.org, card 4111 1111 1111 1111, from 8.8.8.8.")
    assert text == "Mail [EMAIL] or [EMAIL], card [CARD], from [IP]."
    assert counts == {"email": 2, "card": 1, "ip": 1}


def test_redact_hides_secrets_behind_a_secret_placeholder() -> None:
    text, counts = redact(f"key={OPENAI_KEY}\n{PRIVATE_KEY}")
    assert text == "key=[SECRET]\n[PRIVATE_KEY]"
    assert counts == {"secret": 1, "private_key": 1}


def test_redact_only_the_requested_types() -> None:
    assert redact("jane@example.com from 8.8.8.8", ["ip"]) == ("jane@example.com from [IP]", {"ip": 1})


def test_redact_leaves_clean_text_as_it_is() -> None:
    assert redact("Nothing to see here, version 1.2.3.") == ("Nothing to see here, version 1.2.3.", {})


# ---- redact_json() ----------------------------------------------------------------------------
def test_redact_json_redacts_chat_message_content_including_content_parts() -> None:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a support bot."},
        {"role": "user", "content": [
            {"type": "text", "text": "My card is 4111 1111 1111 1111, mail jane@example.com"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo4111111111111111"}},
        ]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "lookup", "arguments": '{"phone": "+44 20 7946 0958"}'}},
        ]},
    ]
    original: list[dict[str, Any]] = copy.deepcopy(messages)
    redacted, counts = redact_json(messages)
    assert redacted[1]["content"][0]["text"] == "My card is [CARD], mail [EMAIL]"
    assert redacted[1]["content"][1] == messages[1]["content"][1]  # inline image left alone
    assert redacted[2]["tool_calls"][0]["function"]["arguments"] == '{"phone": "[PHONE]"}'
    assert redacted[0] == messages[0] and redacted[2]["content"] is None
    assert counts == {"card": 1, "email": 1, "phone": 1}
    assert messages == original  # the input is not modified


def test_redact_json_keeps_keys_numbers_booleans_and_none() -> None:
    value = {"jane@example.com": "owner", "count": 4111111111111111, "ok": True, "none": None, "ratio": 0.5}
    assert redact_json(value) == (value, {})


def test_redact_json_sums_counts_across_nested_values_and_turns_tuples_into_lists() -> None:
    redacted, counts = redact_json({"a": ("jane@example.com", ["8.8.8.8", {"b": "john@example.org"}])})
    assert redacted == {"a": ["[EMAIL]", ["[IP]", {"b": "[EMAIL]"}]]}
    assert counts == {"email": 2, "ip": 1}


def test_redact_json_redacts_a_bare_string_and_honours_types() -> None:
    assert redact_json("jane@example.com 8.8.8.8", ["email"]) == ("[EMAIL] 8.8.8.8", {"email": 1})


# ---- PiiEvaluator -----------------------------------------------------------------------------
def test_pii_evaluator_counts_matches_in_input_and_output_without_quoting_them() -> None:
    sample = Sample(
        input_text="I'm jane@example.com, call me on +44 20 7946 0958",
        output_text=f"Noted jane@example.com. Your key is {OPENAI_KEY}",
    )
    result = PiiEvaluator().evaluate(sample, {})
    [score] = result.scores
    assert (score.name, score.value, score.label) == ("pii.count", 4.0, "pii")
    assert score.reasons == ("input: 1 email, 1 phone", "output: 1 secret, 1 email")
    flags = {flag.name: flag for flag in result.flags}
    assert set(flags) == {"pii.email", "pii.phone", "pii.secret"}
    assert flags["pii.email"].detail == "1 in input, 1 in output"
    assert [flags[name].severity for name in ("pii.secret", "pii.email", "pii.phone")] == ["high", "medium", "medium"]
    shown = " ".join(score.reasons) + " ".join(flag.detail for flag in result.flags)
    assert "jane@example.com" not in shown and OPENAI_KEY not in shown and "7946" not in shown


def test_pii_evaluator_gives_cards_high_and_ips_low_severity() -> None:
    result = PiiEvaluator().evaluate(Sample(output_text="card 4111 1111 1111 1111 from 8.8.8.8"), {})
    assert {(f.name, f.severity) for f in result.flags} == {("pii.card", "high"), ("pii.ip", "low")}


def test_pii_evaluator_scores_a_clean_call_zero_with_no_flags() -> None:
    result = PiiEvaluator().evaluate(Sample(input_text="What is 2 + 2?", output_text="4."), {})
    assert result.scores[0].value == 0.0 and result.scores[0].label == "clean" and result.scores[0].reasons == ()
    assert result.flags == []


def test_pii_evaluator_honours_configured_types_and_severities() -> None:
    sample = Sample(input_text="jane@example.com from 8.8.8.8")
    result = PiiEvaluator().evaluate(sample, {"types": ["ip"], "severity": {"ip": "critical"}})
    assert result.scores[0].value == 1.0
    assert [(f.name, f.severity) for f in result.flags] == [("pii.ip", "critical")]


def test_pii_evaluator_falls_back_to_the_default_for_an_unknown_severity() -> None:
    result = PiiEvaluator().evaluate(Sample(input_text="jane@example.com"), {"severity": {"email": "urgent"}})
    assert [(f.name, f.severity) for f in result.flags] == [("pii.email", "medium")]


def test_pii_evaluator_declares_its_name_and_defaults() -> None:
    evaluator = PiiEvaluator()
    assert evaluator.name == "pii"
    assert evaluator.defaults["types"] is None
    assert set(evaluator.defaults["severity"]) == set(PII_TYPES)
    assert set(evaluator.defaults["severity"].values()) <= set(SEVERITIES)
