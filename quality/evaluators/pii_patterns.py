"""Detectors for quality.evaluators.pii: each finds candidates with a precompiled regex, then the
checksum, range or context check that keeps ordinary numbers, dates and code out. Secrets are in
pii_secrets.

Hand-written because the checks are small (Luhn, ISO 7064 mod-97, DNI letter, 11-proof) while the
libraries that do them (schwifty, phonenumbers, presidio) bring country databases or spaCy models
to what is, at ingest, a hot path; the standard library's `ipaddress` validates IPs.

Speed: `re` has no multi-pattern search and walks every character for a pattern starting with a
class such as \\d, so the digit-led detectors run only inside `numeric_windows`, found in one pass
over a byte-class copy of the text; the others start from a literal ("@", ".", ":").
"""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Sequence

Span = tuple[int, int]
_A = re.ASCII  # digits are ASCII digits, as in the windows below

# ---- where numbers are ------------------------------------------------------------------------
# Every number-like id here has six or more ASCII digits in a row, single separators allowed
# (cards, phones, SSNs, NINOs, DNIs, BSNs, and IBANs: every example in the SWIFT registry does).
# Digits map to "0", separators to "1", the rest to "2", so the search runs on bytes with a
# literal first character. ISO and European dates alone are skipped: they are the commonest such
# run and never one of those ids.
_CLASSES = bytes(48 if 48 <= i <= 57 else 49 if i in b" .()/+-" else 50 for i in range(256))
_DENSE = re.compile(rb"0(?:1?0){5,}")
_PURE_DATE = re.compile(r"(?:19|20)\d\d([-/.])\d\d\1\d\d|\d\d([-/.])\d\d\2(?:19|20)\d\d", _A)
_PAD = 36  # an IBAN prints as up to 42 characters, its digits anywhere in it
_MERGE_GAP = 64  # scanning a short gap costs less than starting seven regexes on a new window
# The last group of a UUID is twelve hex digits, often all decimal; ids, not personal data.
_UUID_AROUND = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?![0-9a-fA-F])")


def numeric_windows(text: str) -> list[Span]:
    windows: list[Span] = []
    classes = text.encode("ascii", "replace").translate(_CLASSES)  # one byte per character
    for m in _DENSE.finditer(classes):
        if _PURE_DATE.fullmatch(text, m.start(), m.end()):
            continue
        uuid = _UUID_AROUND.search(text, max(0, m.start() - 24), m.end() + 1)
        if uuid and uuid.start() <= m.start() and m.end() <= uuid.end():
            continue
        start, end = max(0, m.start() - _PAD), min(len(text), m.end() + _PAD)
        if windows and start <= windows[-1][1] + _MERGE_GAP:
            windows[-1] = (windows[-1][0], end)
        else:
            windows.append((start, end))
    return windows


def _scan(regex: re.Pattern[str], text: str, windows: Sequence[Span] | None) -> Iterator[re.Match[str]]:
    # Lookbehinds see the text before a window's start; lookaheads stop at its end, which the
    # padding keeps clear of any match.
    if windows is None:
        yield from regex.finditer(text)
    else:
        for start, end in windows:
            yield from regex.finditer(text, start, end)


_DIGIT_RUN_BEFORE = re.compile(r"\d[ .-]$", _A)


def _inside_longer_run(text: str, start: int) -> bool:
    return _DIGIT_RUN_BEFORE.search(text, max(0, start - 2), start) is not None


# ---- payment cards ----------------------------------------------------------------------------
# Contiguous 13-19 digits, or the printed groupings (4-4-4-4[-3], 4-4-4-1..4, Amex/Diners 4-6-5,
# 4-6-4) with one separator throughout. Not after a word character or a "." (hex, decimals).
_CARD = re.compile(
    r"\d(?<![\w.]\d)(?:\d{12,18}|\d{3}([ -])\d{4}\1\d{4}\1\d{1,4}(?:\1\d{3})?|\d{3}([ -])\d{6}\2\d{4,5})(?!\w)", _A
)
# A further group of four (a longer account number) or a decimal part; a CVV, an expiry or a
# comma-separated list may follow.
_MORE_DIGITS_AFTER = re.compile(r"[ -]\d{4}|\.\d", _A)


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card_brand_ok(d: str) -> bool:
    # Issuer prefixes and lengths: Luhn alone passes one random number in ten, and millisecond
    # timestamps or ids starting with 1, 7, 8 or 9 are never cards.
    n, two, four = len(d), int(d[:2]), int(d[:4])
    if d[0] == "4":
        return n in (13, 16, 19)  # Visa
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return n == 16  # Mastercard
    if two in (34, 37):
        return n == 15  # Amex
    if two in (36, 38, 39) or 300 <= int(d[:3]) <= 305:
        return 14 <= n <= 19  # Diners
    if 3528 <= four <= 3589:
        return 16 <= n <= 19  # JCB
    return d[0] == "6" or two == 50 or 56 <= two <= 58  # Discover, UnionPay, Maestro


def _card_ok(text: str, start: int, end: int) -> bool:
    digits = text[start:end].replace(" ", "").replace("-", "")
    if len(set(digits)) == 1 or not _card_brand_ok(digits) or not luhn_ok(digits):
        return False
    return not _MORE_DIGITS_AFTER.match(text, end) and not _inside_longer_run(text, start)


def find_cards(text: str, windows: Sequence[Span] | None = None) -> Iterator[Span]:
    for m in _scan(_CARD, text, windows):
        start, end = m.span()
        if _card_ok(text, start, end):
            yield start, end
        elif m.group(1) and end - start == 23 and _card_ok(text, start, end - 4):
            yield start, end - 4  # 4-4-4-4 and a CVV, not a 19-digit card


# ---- IBAN (ISO 13616) -------------------------------------------------------------------------
# Lengths from the SWIFT IBAN registry; a country not listed is not matched.
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
    "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22,
    "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}
# Contiguous or in groups of four with single spaces. Upper case only: lower-case IBANs are rare,
# and case-insensitive, every "ab12" in text would start a candidate.
_IBAN = re.compile(r"[A-Z](?<!\w[A-Z])[A-Z]\d{2}(?: ?[A-Z0-9]{4}){2,7}+(?: ?[A-Z0-9]{1,3}+)?", _A)


def iban_ok(iban: str) -> bool:
    if IBAN_LENGTHS.get(iban[:2]) != len(iban):
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def find_ibans(text: str, windows: Sequence[Span] | None = None) -> Iterator[Span]:
    for m in _scan(_IBAN, text, windows):
        length = IBAN_LENGTHS.get(m.group()[:2])
        if length is None:
            continue
        # The groups may run on into a following code; cut at the country's length, which must
        # fall on a token boundary.
        taken, end = 0, m.start()
        while taken < length and end < m.end():
            taken += text[end] != " "
            end += 1
        if taken < length or (end < len(text) and text[end].isalnum()):
            continue
        if iban_ok(text[m.start() : end].replace(" ", "")):
            yield m.start(), end


# ---- phone numbers ----------------------------------------------------------------------------
# Three shapes, each needing a "+" or separators, so that a bare run of digits (an order number, a
# timestamp, an id) is never a phone: international (+CC ...), North American (555-123-4567,
# (555) 123-4567) and trunk-prefixed national numbers (020 7946 0958, 06 12 34 56 78; after the
# trunk 0 comes 1-9, as "00" dials abroad). One separator throughout, as people write numbers;
# dates, which also mix separators, are skipped below.
_PHONES = (
    (re.compile(r"\+(?<![\w+)]\+)[1-9]\d{0,3}+(?:[ .-]?(?:\(\d{1,4}\)|\d{1,12}+))"
                r"(?:[ .-]?(?:\(\d{1,4}\)|\d{2,12}+)){0,5}+", _A), 8, 15),
    (re.compile(r"(?<![\w.+/#(-])(?:\([2-9]\d{2}\) ?[2-9]\d{2}[ .-]\d{4}"
                r"|(?:1([ .-]))?[2-9]\d{2}([ .-])[2-9]\d{2}\2\d{4})", _A), 10, 11),
    (re.compile(r"(?<![\w.+/#(-])(?:\(0[1-9]\d{0,3}\) ?\d{2,8}+(?:([ .-])\d{2,8}+(?:\1\d{2,8}+){0,2}+)?"
                r"|0[1-9]\d{0,3}+([ .-])\d{2,8}+(?:\2\d{2,8}+){0,3}+)", _A), 9, 12),
)
_DATE_INSIDE = re.compile(r"\b(?:\d{1,2}[./-]\d{1,2}[./-](?:19|20)\d{2}|(?:19|20)\d{2}[./-]\d{1,2}[./-]\d{1,2})\b", _A)
# Digits right after, or a space and three more, mean the match is a slice of a longer run.
_PHONE_RUN_AFTER = re.compile(r"\d|[.:/-]\d| \d{3}", _A)


def find_phones(text: str, windows: Sequence[Span] | None = None) -> Iterator[Span]:
    for regex, fewest, most in _PHONES:
        for m in _scan(regex, text, windows):
            start, end = m.span()
            digits = sum(ch.isdigit() for ch in m.group())
            if not fewest <= digits <= most or _PHONE_RUN_AFTER.match(text, end):
                continue
            if not _inside_longer_run(text, start) and not _DATE_INSIDE.search(m.group()):
                yield start, end


# ---- national ids -----------------------------------------------------------------------------
def _context_before(regex: re.Pattern[str], text: str, start: int) -> bool:
    return regex.search(text, max(0, start - 40), start) is not None


# US SSN: AAA-GG-SSSS (or spaced). Never-issued numbers are out: area 000, 666 and 9xx, group 00,
# serial 0000. Nine bare digits are an SSN only right after the word.
_SSN = re.compile(r"\d(?<![\w.-]\d)\d{2}([- ]?)\d{2}\1\d{4}(?![\w-]|[ -]\d)", _A)
_SSN_CONTEXT = re.compile(r"(?i:\bssn\b|social security)[^\n\d]{0,15}$")


def find_ssns(text: str, windows: Sequence[Span] | None = None) -> Iterator[Span]:
    for m in _scan(_SSN, text, windows):
        d = m.group().replace("-", "").replace(" ", "")
        if d[:3] in ("000", "666") or d[0] == "9" or d[3:5] == "00" or d[5:] == "0000":
            continue
        if m.group(1) or _context_before(_SSN_CONTEXT, text, m.start()):
            yield m.span()


# UK National Insurance number: two letters (HMRC never uses D F I Q U V, nor O second, nor the
# prefixes below), six digits, suffix A-D; spaced consistently or not at all.
_NINO = re.compile(r"[A-Z](?<!\w[A-Z])[A-Z]( ?)\d{2}\1\d{2}\1\d{2}\1[A-D](?!\w)", _A)
_NINO_BAD_PREFIXES = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})


def find_ninos(text: str, windows: Sequence[Span] | None = None) -> Iterator[Span]:
    for m in _scan(_NINO, text, windows):
        first, second = m.group()[0], m.group()[1]
        if first not in "DFIQUV" and second not in "DFIOQUV" and first + second not in _NINO_BAD_PREFIXES:
            yield m.span()


# Spanish DNI (8 digits) and NIE (X/Y/Z + 7 digits): the final letter is a mod-23 checksum.
_DNI = re.compile(r"[0-9XYZ](?<![\w.-][0-9XYZ])-?\d{7}-?[A-Z](?!\w)", _A)
_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def find_dnis(text: str, windows: Sequence[Span] | None = None) -> Iterator[Span]:
    for m in _scan(_DNI, text, windows):
        raw = m.group().replace("-", "")
        if len(raw) != 9:
            continue
        number = int(str("XYZ".find(raw[0])) + raw[1:8]) if raw[0] in "XYZ" else int(raw[:8])
        if _DNI_LETTERS[number % 23] == raw[8]:
            yield m.span()


# Dutch BSN: nine digits passing the 11-proof. One random nine-digit number in eleven passes, so
# it also needs the word (BSN, burgerservicenummer, sofinummer) shortly before it.
_BSN = re.compile(r"\d(?<![\w.-]\d)\d{8}(?![\w-])", _A)
_BSN_CONTEXT = re.compile(r"(?i:\b(?:bsn|burgerservicenummer|sofi-?nummer))[^\n\d]{0,15}$")


def find_bsns(text: str, windows: Sequence[Span] | None = None) -> Iterator[Span]:
    lowered = text.encode("ascii", "replace").lower()
    if b"bsn" not in lowered and b"burgerservicenummer" not in lowered and b"sofi" not in lowered:
        return
    for m in _scan(_BSN, text, windows):
        d = [ord(ch) - 48 for ch in m.group()]
        proof = sum(d[i] * (9 - i) for i in range(8)) - d[8]
        if proof and proof % 11 == 0 and _context_before(_BSN_CONTEXT, text, m.start()):
            yield m.span()


# ---- e-mail -----------------------------------------------------------------------------------
# Found from each "@" outwards: a regex starting at the local part would be tried at every letter.
_LOCAL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-")
_DOMAIN = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}(?![A-Za-z0-9-])")
_SCP_PATH_AFTER = re.compile(r":[\w~./-]")  # git@github.com:org/repo.git is a remote, not a mailbox
_FILE_TLDS = frozenset({"png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "bmp", "css", "js", "ts", "json"})


def find_emails(text: str) -> Iterator[Span]:
    at = text.find("@")
    while at != -1:
        start = at
        while start > 0 and at - start < 64 and text[start - 1] in _LOCAL_CHARS:
            start -= 1
        clean_start = start == 0 or not (text[start - 1].isalnum() or text[start - 1] in _LOCAL_CHARS)
        while start < at and text[start] == ".":
            start += 1
        domain = _DOMAIN.match(text, at + 1)
        if domain:
            end = domain.end()
            is_file = domain.group().rsplit(".", 1)[1].lower() in _FILE_TLDS  # "icon@2x.png"
            if start < at and clean_start and not is_file and not _SCP_PATH_AFTER.match(text, end):
                yield start, end
        at = text.find("@", at + 1)


# ---- IP addresses -----------------------------------------------------------------------------
# A dotted quad is an address even where it could be a four-part version, unless the text just
# before it says version ("v1.2.3.4", "version 1.2.3.4", "==1.2.3.4"). Loopback, unspecified,
# multicast and reserved (240/4, which holds 255.255.255.0 netmasks) addresses point at nobody.
# Matched from its second "." so that the scan skips ahead on a literal.
_IPV4_TAIL = re.compile(r"\.(?<=\d\.)\d{1,3}\.\d{1,3}\.\d{1,3}(?!\w|\.\d)", _A)
_FIRST_OCTET = re.compile(r"(?<![\w.])\d{1,3}$", _A)
_VERSION_BEFORE = re.compile(r"(?:(?i:\b(?:v|version|ver|release|build))\s*[:=]?|[=<>~!]=|[\^~])\s*[\"']?$")
# IPv6 candidates start near a ":" followed by a hex group and another ":".
_IPV6_HINT = re.compile(r":(?=[0-9A-Fa-f]{0,4}:)")
_IPV6 = re.compile(r"(?<![\w:.])[0-9A-Fa-f:]{2,39}+(?:\.\d{1,3}){0,3}(?![\w:])", _A)
_HEX = frozenset("0123456789abcdefABCDEF")


def _points_somewhere(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return not (ip.is_loopback or ip.is_unspecified or ip.is_multicast or ip.is_reserved)


def find_ips(text: str) -> Iterator[Span]:
    for m in _IPV4_TAIL.finditer(text):
        first = _FIRST_OCTET.search(text, max(0, m.start() - 3), m.start())
        if first is None:
            continue
        try:
            ip = ipaddress.IPv4Address(text[first.start() : m.end()])  # no octet > 255, no leading 0
        except ValueError:
            continue
        if _points_somewhere(ip) and not _VERSION_BEFORE.search(text, max(0, first.start() - 12), first.start()):
            yield first.start(), m.end()
    done = 0
    for hint in _IPV6_HINT.finditer(text):
        start = hint.start()
        if start < done:
            continue
        while start > 0 and hint.start() - start < 4 and (text[start - 1] in _HEX or text[start - 1] == ":"):
            start -= 1
        m6 = _IPV6.match(text, start)
        if m6 is None:
            continue
        done = m6.end()
        # A full address has seven colons (six before a dotted quad), a short one "::"; times
        # such as 12:30:45 have neither. "Cafe::Beef" (C++, Ruby) parses, but has no digit.
        candidate = m6.group()
        if ("::" in candidate or candidate.count(":") >= 6) and any(ch.isdigit() for ch in candidate):
            try:
                ip6 = ipaddress.IPv6Address(candidate)
            except ValueError:
                continue
            if _points_somewhere(ip6.ipv4_mapped or ip6):  # ::ffff:a.b.c.d is judged as a.b.c.d
                yield m6.span()
