from __future__ import annotations

import time

import pytest

from monitor.redact import excerpt, redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail jane.doe+billing@example.co.uk now", "mail [email] now"),
        ("from josé@exämple.com.", "from [email]."),
        ("call +44 20 7946 0958 today", "call [phone] today"),
        ("call +1 (555) 123-4567", "call [phone]"),
        ("call (555) 123-4567 or 555.123.4567 or 555-123-4567", "call [phone] or [phone] or [phone]"),
        ("toll free 1-800-555-1234", "toll free [phone]"),
        ("visa 4111 1111 1111 1111 ok", "visa [card] ok"),
        ("mc 5500-0000-0000-0004, amex 378282246310005", "mc [card], amex [card]"),
        ("key sk-proj-abcdefghijklmnopqrstuvwxyz012345", "key [secret]"),
        ("key sk-ant-api03-AbCdEfGhIjKlMnOpQrStUv_wx-yz", "key [secret]"),
        ("slack xoxb-123456789012-1234567890123-AbCdEfGhIjKl", "slack [secret]"),
        ("gh ghp_abcdefghijklmnopqrstuvwxyz0123456789", "gh [secret]"),
        ("aws AKIAIOSFODNN7EXAMPLE", "aws [secret]"),
        ("Authorization: Bearer abc.DEF-123_456~789+xyz/==", "Authorization: Bearer [secret]"),
        ("authorization: bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", "authorization: bearer [secret]"),
        ("url?api_key=0123456789abcdef0123&x=1", "url?api_key=[secret]&x=1"),
        ('{"access_token": "ya29.A0ARrdaM-abcdefghijkl"}', '{"access_token": "[secret]"}'),
        ("db_password=hunter22 retry", "db_password=[secret] retry"),
        ("PASSWORD: 'p@ss w0rd'", "PASSWORD: '[secret] w0rd'"),
        ("dsn postgres://admin:s3cr3t@db.internal:5432/app", "dsn postgres://[secret]@db.internal:5432/app"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nIBAAK\n-----END RSA PRIVATE KEY----- end", "[secret] end"),
        ("from 192.168.1.10, then 8.8.8.8.", "from [ip], then [ip]."),
    ],
)
def test_each_kind_is_redacted(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "order 4111 1111 1111 1112 shipped",  # Luhn fails
        "ticket 1234567812345678",  # Luhn fails
        "event at 1715612345678 ms",  # 13 digits, epoch millis: issuer digit 1 is not a card
        "released 2024-05-13T12:30:45Z on 13/05/2024",
        "python 3.11.4, v1.2.3, build 1.2.3.4.5",
        "id 123e4567-e89b-12d3-a456-426614174000 commit 9fceb02d0ae598e95dc970b74767f19372d61af8",
        "order 12345678901 and invoice INV-2024-000123",
        "task-management-system-design and max_tokens=4096, tokens: 12",
        "the bearer of bad news; token: expired",
        "gpt-4o-mini-2024-07-18 scored 0.93 on 1,204 cases",
    ],
)
def test_harmless_text_is_kept(text: str) -> None:
    assert redact(text) == text


def test_phone_inside_luhn_failing_digit_run_is_still_redacted() -> None:
    assert redact("call 555-123-4567 1234 now") == "call [phone] 1234 now"


def test_placeholders_are_not_re_redacted() -> None:
    once = redact("a@b.com 4111111111111111 sk-abcdefghijklmnopqrstuvwxyz")
    assert redact(once) == once == "[email] [card] [secret]"


def test_excerpt_none_and_short() -> None:
    assert excerpt(None) is None
    assert excerpt("") == ""
    assert excerpt("  hello \n\t world  ") == "hello world"


def test_excerpt_redacts_collapses_and_cuts() -> None:
    text = "Reply to bob@example.com\n\nabout card 4111111111111111. " + "word " * 200
    out = excerpt(text, limit=60)
    assert out is not None and len(out) <= 60 and out.endswith("…")
    assert out.startswith("Reply to [email] about card [card]. word")
    assert "\n" not in out


def test_excerpt_strips_controls_invisibles_and_surrogates() -> None:
    raw = b"ok \xff\xfe bad \x1b[31mred\x00 bi\xe2\x80\xaedi zero\xe2\x80\x8bwidth"
    text = raw.decode("utf-8", errors="surrogateescape")
    out = excerpt(text)
    assert out == "ok bad [31mred bidi zerowidth"
    assert out.encode("utf-8")  # no lone surrogates left


def test_excerpt_joins_secret_split_by_invisible_char() -> None:
    assert excerpt("key sk-abcdefgh\u200bijklmnopqrstuvwxyz") == "key [secret]"


def test_excerpt_never_shows_a_cut_secret() -> None:
    # a long secret fills the prefix: the word cut at the prefix boundary is dropped, not shown
    text = "Bearer " + "A" * 5000 + " sk-abcdefghijklmnopqrstuvwxyz " * 100
    out = excerpt(text, limit=40)
    assert out is not None and "sk-" not in out
    assert out.startswith("Bearer [secret] [secret]")


@pytest.mark.parametrize(
    "text",
    [
        ("hello 4111111111111111 a@b.com " * 400_000)[:10_000_000],
        "x" * 10_000_000,
        "9" * 10_000_000,
        "1 " * 5_000_000,
        " " * 10_000_000 + "tail",
        "\x00" * 10_000_000,
        "a@" * 5_000_000,
        "sk-" * 3_400_000,
        "\udcff" * 10_000_000,
    ],
    ids=["dense", "one-word", "digits", "digit-spaces", "whitespace", "nul", "at-signs", "giant-secret", "surrogates"],
)
def test_excerpt_is_fast_on_10mb(text: str) -> None:
    start = time.perf_counter()
    out = excerpt(text)
    assert time.perf_counter() - start < 0.5
    assert out is not None and len(out) <= 280


def test_excerpt_limit_must_be_positive() -> None:
    with pytest.raises(ValueError):
        excerpt("x", limit=0)
