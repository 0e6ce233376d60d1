"""Redaction of personal data and secrets from text shown in reports and Slack.

`redact` replaces emails, phone numbers, payment card numbers (Luhn-checked), API keys, bearer
tokens, key=value secrets, credentials in URLs and IPv4 addresses with placeholders. It is one
pass of one regex, so an earlier replacement is never re-matched by a later pattern. Every
quantifier is bounded or possessive (a secret is consumed whole, however long) and every match
starts at a boundary, so the work is linear in the text (roughly 0.3–1 s per MB of dense
text: use `excerpt` for anything shown to people).

`excerpt` makes a short, safe, single-line excerpt and only ever redacts a bounded prefix.
"""

from __future__ import annotations

import re

EMAIL = "[email]"
PHONE = "[phone]"
CARD = "[card]"
SECRET = "[secret]"
IP = "[ip]"

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_ASSIGN = r"[\"']?\s{0,3}[:=]\s{0,3}[\"']?"  # key=, key: , "key": "

# Alternatives are tried in this order at each position. All of them start where the previous
# character is not an ASCII letter or digit (see _combine).
_PATTERNS: dict[str, str] = {
    "private_key": (
        r"-----BEGIN[A-Z ]{0,40}PRIVATE KEY-----"
        r"(?:[\s\S]{0,16384}?-----END[A-Z ]{0,40}PRIVATE KEY-----|[A-Za-z0-9+/=\s]*+)"
    ),
    "url_credentials": r"(?<=://)[^\s/@:]++:[^\s/@]++@",
    "bearer": r"(?i:bearer|basic)\s++[A-Za-z0-9._~+/=-]{16,}+",
    # a long secret-looking value after a key or token name (api_key=…, "access_token": "…")
    "key_value": (
        r"(?i:api[_-]?key|apikey|access[_-]?key|secret[_-]?key|client[_-]?secret|"
        r"(?:access|auth|refresh|id|session)[_-]?token|token)" + _ASSIGN
        + r"(?P<key_value_v>[A-Za-z0-9+/=_.~-]{12,}+)"
    ),
    # any value after a password or secret name (password=hunter2)
    "password": r"(?i:password|passwd|pwd|secret)" + _ASSIGN + r"(?P<password_v>[^\s\"'&,;<>]++)",
    "token": (
        r"sk-[A-Za-z0-9_-]{16,}+"  # OpenAI (sk-, sk-proj-) and Anthropic (sk-ant-)
        r"|xox[a-z]-[A-Za-z0-9-]{10,}+"  # Slack
        r"|gh[pousr]_[A-Za-z0-9]{20,}+|github_pat_[A-Za-z0-9_]{20,}+"  # GitHub
        r"|(?:AKIA|ASIA)[0-9A-Z]{16}"  # AWS access key id
        r"|eyJ[A-Za-z0-9_-]{8,}+\.[A-Za-z0-9_-]{8,}+\.[A-Za-z0-9_-]*+"  # JWT
        r"|AIza[0-9A-Za-z_-]{35}"  # Google API key
    ),
    "email": r"(?<![\w.%+-])[\w.%+-]++@[\w-]{1,63}(?:\.[\w-]{1,63}){0,8}\.[^\W\d_]{2,24}(?![\w-])",
    "card": r"(?<!\d)\d(?:[ -]?\d){12,18}(?!\d)",  # checked in _replace: issuer digit and Luhn
    "ip": rf"(?<![\d.]){_OCTET}(?:\.{_OCTET}){{3}}(?!\.?\d)",
    # International numbers need a leading +; US numbers need separators, so bare digit ids survive.
    "phone_intl": r"(?<![\w+])\+\d(?:[ .()-]{0,2}\d){7,16}(?!\d)",
    "phone_us": r"(?<![\w+])(?:\+?1[ .-]?)?(?:\(\d{3}\) ?|\d{3}[ .-])\d{3}[ .-]\d{4}(?!\d)",
}
_PLACEHOLDER = {"email": EMAIL, "ip": IP, "phone_intl": PHONE, "phone_us": PHONE}


def _combine(names: list[str]) -> re.Pattern[str]:
    # The shared boundary check comes first, so the scan skips the inside of words and digit runs
    # cheaply instead of trying every alternative at every character.
    return re.compile("(?<![A-Za-z0-9])(?:" + "|".join(f"(?P<{n}>{_PATTERNS[n]})" for n in names) + ")")


_ALL = _combine(list(_PATTERNS))
_WITHOUT_CARD = _combine([n for n in _PATTERNS if n != "card"])


def _is_card(digits: str) -> bool:
    """Issuer digit 2–6 (Mastercard, Amex, Visa, Discover, JCB, UnionPay…) and a valid Luhn checksum."""
    if digits[0] not in "23456":
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _replace(m: re.Match[str]) -> str:
    kind = m.lastgroup
    text = m.group()
    if kind == "card":
        if _is_card(text.replace(" ", "").replace("-", "")):
            return CARD
        # not a card: keep the digits, but still redact e.g. a phone number inside the run
        return _WITHOUT_CARD.sub(_replace, text)
    if kind in ("key_value", "password"):
        return text[: m.start(f"{kind}_v") - m.start()] + SECRET
    if kind == "bearer":
        return text.split(None, 1)[0] + " " + SECRET
    if kind == "url_credentials":
        return SECRET + "@"
    return _PLACEHOLDER.get(kind or "", SECRET)


def redact(text: str) -> str:
    """`text` with personal data and secrets replaced by placeholders like `[email]`."""
    return _ALL.sub(_replace, text)


# Control and invisible format characters (bidi overrides, zero-width, BOM) and lone surrogates
# (from bytes decoded with surrogateescape). Whitespace, controls included, collapses to one space.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\ufeff\ufff9-\ufffb\ud800-\udfff]+"
)


def _clean(text: str) -> str:
    # Collapsing first (C-fast str.split) keeps the regex off megabytes of whitespace.
    return " ".join(_INVISIBLE.sub("", " ".join(text.split())).split())


_MAX_REDACTED_PER_LIMIT = 256


def excerpt(text: str | None, limit: int = 280) -> str | None:
    """A redacted single-line excerpt of at most `limit` characters, ending in "…" when cut.

    Only a prefix is cleaned and redacted (about 4 × `limit` characters), so a 10 MB text costs
    about what a short one does. The prefix grows only when it yields too little to fill `limit`:
    when cleaning removed most of it (megabytes of whitespace), or redaction shrank it (long
    secrets; at most 256 × `limit` characters are redacted). A word cut at the prefix boundary
    is dropped, so a partial secret is never shown.
    """
    if text is None:
        return None
    if limit < 1:
        raise ValueError("limit must be at least 1")
    size = cap = 4 * limit
    while True:
        cleaned = _clean(text[:size])
        complete = size >= len(text) and len(cleaned) <= cap
        window = cleaned[:cap]
        if not complete and " " in window:
            window = window[: window.rindex(" ")]
        out = redact(window)
        if complete or len(out) > limit:
            break
        if len(cleaned) <= cap:
            size *= 4  # too little text in the window: read more (cleaning is cheap)
        elif cap < _MAX_REDACTED_PER_LIMIT * limit:
            cap *= 4  # redaction shrank the text: redact more of it
            size = max(size, cap)
        else:
            break  # e.g. one giant token: a short excerpt is fine
    if len(out) <= limit:
        return out
    return out[: limit - 1].rstrip() + "…"
