"""Number and word formatting for the sentences criteria and verdicts produce."""

from __future__ import annotations

from collections.abc import Sequence


def count(n: int) -> str:
    """12345 -> "12,345"."""
    return f"{n:,}"


def plural(n: int, singular: str, plural_form: str | None = None) -> str:
    """(1, "pattern") -> "1 pattern"; (3, "pattern") -> "3 patterns"."""
    word = singular if n == 1 else (plural_form or singular + "s")
    return f"{count(n)} {word}"


def percent(fraction: float, *, distinct_from: float | None = None) -> str:
    """0.8 -> "80%", 0.754 -> "75%".

    With `distinct_from` (a cap or threshold), adds decimals (up to 2) until a different value
    no longer prints the same as it, so 50.02% never reads as a 50% cap.
    """
    value = fraction * 100
    for decimals in (0, 1):
        text = f"{value:.{decimals}f}%"
        if distinct_from is None or fraction == distinct_from:
            return text
        if text != f"{distinct_from * 100:.{decimals}f}%":
            return text
    return f"{value:.2f}%"


def percent_of(value: float, threshold: float) -> str:
    """Share of a threshold, rounded down so 99.7% never reads as 100%: (850, 1000) -> "85%"."""
    return f"{int(value * 100 // threshold)}%"


def join_words(items: Sequence[str]) -> str:
    """["a"] -> "a"; ["a", "b", "c"] -> "a, b and c"."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"
