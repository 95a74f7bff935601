"""Secret detectors for quality.evaluators.pii: provider API keys, tokens, JWTs, passwords in
URLs and private key blocks. Each pattern starts with its literal prefix, or is searched from a
keyword found with bytes.find, so text without that prefix costs next to nothing."""
from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterator

Span = tuple[int, int]

# What the random part of a key must contain. Real keys are random, and a random string of 16 or
# more characters practically always mixes letters, digits and (in base62/64) both cases; this
# keeps placeholders ("sk-proj-XXXXXXXX...", "Bearer YOUR_TOKEN_HERE") and slugs out.
MIXED, ALNUM, ANY = "mixed", "alnum", "any"


def _looks_random(body: str, need: str) -> bool:
    if need == ANY:
        return True
    has_digit = any(ch.isdigit() for ch in body)
    if need == ALNUM:
        return has_digit and any(ch.isalpha() for ch in body)
    return has_digit and any(ch.isupper() for ch in body) and any(ch.islower() for ch in body)


# (literals of which one must be in the text, regex, what the "body" group must contain, whether
# only the body is the secret). Lookbehinds come after the literal so that `re` can jump from one
# occurrence to the next.
_PREFIXED: tuple[tuple[tuple[str, ...], re.Pattern[str], str, bool], ...] = (
    # OpenAI (legacy, sk-proj-, sk-svcacct-, sk-admin-) and Anthropic (sk-ant-api03-...)
    (("sk-",), re.compile(
        r"sk-(?<![\w-]sk-)(?:ant-[a-z]+[0-9]*-|proj-|svcacct-|admin-)?(?P<body>[A-Za-z0-9_-]{20,}+)"), MIXED, False),
    (("AIza",), re.compile(r"AIza(?<![\w-]AIza)(?P<body>[0-9A-Za-z_-]{35})(?![\w-])"), ALNUM, False),  # Google
    (("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),  # GitHub personal, OAuth, user-to-server, server, refresh
     re.compile(r"gh[pousr]_(?<!\wgh[pousr]_)(?P<body>[A-Za-z0-9]{36,251}+)"), MIXED, False),
    (("github_pat_",), re.compile(r"github_pat_(?<!\wgithub_pat_)(?P<body>[A-Za-z0-9_]{22,244}+)"), MIXED, False),
    (("xox",), re.compile(r"xox[baprs]-(?<!\wxox[baprs]-)(?P<body>[A-Za-z0-9-]{10,250}+)"), ALNUM, False),  # Slack
    (("sk_live_", "rk_live_", "sk_test_", "rk_test_"),  # Stripe secret and restricted keys
     re.compile(r"(?<!\w)[rs]k_(?:live|test)_(?P<body>[A-Za-z0-9]{16,247}+)"), MIXED, False),
    (("AKIA", "ASIA"),  # AWS access key ids (long-term, session)
     re.compile(r"(?<![A-Za-z0-9])(?:AKIA|ASIA)(?P<body>[A-Z0-9]{16})(?![A-Za-z0-9])"), ALNUM, False),
    (("eyJ",),  # JWT
     re.compile(r"eyJ(?<![\w-]eyJ)(?P<body>[A-Za-z0-9_-]{8,}+\.eyJ[A-Za-z0-9_-]{8,}+\.[A-Za-z0-9_-]*+)"), ANY, False),
    # Credentials in a URL (postgres://user:pass@host): only the password is redacted.
    (("://",), re.compile(r"://[^\s:/@]{1,128}:(?P<body>[^\s:/@${}<>*]{3,128})@(?=[\w.\[-])"), ANY, True),
)

# A value assigned to a name that says key, secret or token (settings, .env, code, JSON). AWS
# secret access keys have no prefix of their own, so this is the only way to find them. Searched
# from each keyword, with its qualifier checked just before it.
_KEYWORDS = (b"key", b"secret", b"token")
_QUALIFIER_BEFORE = re.compile(rb"(?:api|access|secret|private|client|auth)[ _-]?(?:access[ _-]?)?$")
_ASSIGNED = re.compile(r"[\"']?\s*[:=]\s*(?P<q>[\"']?)(?P<body>[A-Za-z0-9/+=_.~-]{16,200}+)(?P=q)(?![\w/+=.~-])")
# "Authorization: Bearer <token>" in headers, curl commands and JSON.
_AUTHORIZATION = re.compile(r"[\"']?\s*[:=]\s*[\"']?(?i:bearer|basic|token)\s+(?P<body>[A-Za-z0-9._~+/=-]{12,}+)")


def find_secrets(text: str) -> Iterator[Span]:
    for literals, regex, need, only_body in _PREFIXED:
        if not any(literal in text for literal in literals):
            continue
        for m in regex.finditer(text):
            if _looks_random(m.group("body"), need):
                yield m.span("body") if only_body else m.span()
    # Case-insensitive keywords are found in an ASCII lower-cased copy: one byte per character,
    # so its offsets are the text's.
    lowered = text.encode("ascii", "replace").lower()
    for keyword in _KEYWORDS:
        at = lowered.find(keyword)
        while at != -1:
            if _QUALIFIER_BEFORE.search(lowered, max(0, at - 20), at):
                assigned = _ASSIGNED.match(text, at + len(keyword))
                if assigned and _looks_random(assigned.group("body"), MIXED):
                    yield assigned.span("body")
            at = lowered.find(keyword, at + 1)
    at = lowered.find(b"authorization")
    while at != -1:
        header = _AUTHORIZATION.match(text, at + len(b"authorization"))
        if header and _looks_random(header.group("body"), ALNUM):
            yield header.span("body")
        at = lowered.find(b"authorization", at + 1)


# PEM, OpenSSH and PGP private key blocks, from BEGIN to the next END line. A block cut off before
# its END (a truncated answer) still counts, up to the last run that looks like base64. END lines
# are listed once and looked up, as searching on from every BEGIN would be quadratic.
_BEGIN = re.compile(r"-----BEGIN[A-Z0-9 ]{0,40} PRIVATE KEY(?: BLOCK)?-----")
_END = re.compile(r"-----END[A-Z0-9 ]{0,40} PRIVATE KEY(?: BLOCK)?-----")
_BASE64_TAIL = re.compile(r"(?:\s*[A-Za-z0-9+/=]{16,}+)*+")


def find_private_keys(text: str) -> Iterator[Span]:
    if "PRIVATE KEY" not in text:
        return
    begins = [m.span() for m in _BEGIN.finditer(text)]
    ends = [m.end() for m in _END.finditer(text)]
    for n, (start, header_end) in enumerate(begins):
        following = bisect_left(ends, header_end)
        next_begin = begins[n + 1][0] if n + 1 < len(begins) else len(text)
        if following < len(ends) and ends[following] <= next_begin:
            yield start, ends[following]
        else:
            tail = _BASE64_TAIL.match(text, header_end, next_begin)
            yield start, tail.end() if tail else header_end
