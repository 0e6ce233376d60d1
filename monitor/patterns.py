"""Recurring failure patterns of one workload (DESIGN.md: "recurring failure pattern").

Each failure gets a key: its `failure_mode` label (normalised), or, when there is no label or
the label is long free text, a template mined with Drain3 in which numbers, hex ids, UUIDs,
emails and quoted values are wildcards (`Missing field <*> in row <*>`). Failures are counted per
key in 7-day buckets ending at `as_of`; a key is recurring when it is seen in at least
`min_weeks` of the last `window_weeks` weeks with at least `min_cases` cases.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np
import pandas as pd
from drain3.drain import Drain, LogCluster
from drain3.masking import LogMasker, MaskingInstruction

from monitor.model import FailurePattern
from monitor.redact import excerpt

REMEDIES = ("fine-tune", "retrieval", "prompt", "investigate")

# A failure_mode longer than this is free text: it is mined like failure text, not used as a key.
_MAX_LABEL_CHARS = 60
_MAX_LABEL_WORDS = 6
# Only the start of a text is mined: it carries the template, and it bounds the work per text.
_MAX_MINED_CHARS = 300
_MAX_MINED_TOKENS = 24
# Drain3 is quadratic when many distinct texts share a tree leaf (natural language with a common
# first word). These bounds keep mining linear: a text is compared with the newest clusters of its
# leaf only, and least recently used clusters are dropped from the tree.
_MAX_CANDIDATES = 8
_MAX_CLUSTERS = 64

# What becomes a wildcard before mining: one regex, so each text is masked in one pass, and
# every alternative starts after a non-word character, so the scan skips the inside of words.
_MASK = r"(?<![\w.])(?:" + "|".join(
    (
        r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b",  # UUID
        r"[\w.%+-]+@[\w-]+(?:\.[\w-]+)+",  # email
        r"\"[^\"]{0,200}\"|'[^']{0,200}'(?!\w)|`[^`]{0,200}`|“[^”]{0,200}”|‘[^’]{0,200}’",  # quoted (not don't)
        r"\b0[xX][0-9a-fA-F]+\b|\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{6,}\b",  # hex id
        r"[-+]?\d+(?:[.,:]\d+)*(?![\w.]?\w)",  # number (not the 4 of gpt-4o, not v1.2)
    )
) + ")"


@dataclass(frozen=True)
class PatternParams:
    min_weeks: int = 3
    window_weeks: int = 8
    min_cases: int = 20
    max_excerpts: int = 3

    def __post_init__(self) -> None:
        if self.window_weeks < 1:
            raise ValueError("window_weeks must be at least 1")
        for name in ("min_weeks", "min_cases", "max_excerpts"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")


def _words(text: str) -> str:
    return " ".join(re.sub(r"[\W_]+", " ", text.lower()).split())


@dataclass(frozen=True)
class RemedyMap:
    """Failure key → (category, remedy).

    The first category (in mapping order) with a keyword at the start of a word of the key wins,
    so keywords act as stems ("hallucinat" would match "hallucinated"). Keys and keywords are
    compared lowercased with punctuation as spaces ("json_parse_error" contains "parse").
    """

    keywords: Mapping[str, Sequence[str]]
    remedies: Mapping[str, str]
    default_category: str = "other"
    default_remedy: str = "investigate"
    _matchers: tuple[tuple[str, re.Pattern[str]], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for category, words in self.keywords.items():
            if isinstance(words, str):
                raise ValueError(f"keywords.{category}: expected a list of keywords, not one string")
            if category not in self.remedies:
                raise ValueError(f"remedies: no remedy for category {category!r}")
        for category, remedy in [*self.remedies.items(), (self.default_category, self.default_remedy)]:
            if remedy not in REMEDIES:
                raise ValueError(f"remedies.{category}: {remedy!r} is not one of {', '.join(REMEDIES)}")
        matchers = tuple(
            (category, re.compile(r"\b(?:" + "|".join(re.escape(_words(k)) for k in words) + ")"))
            for category, words in self.keywords.items()
            if any(_words(k) for k in words)
        )
        object.__setattr__(self, "_matchers", matchers)

    def classify(self, key: str) -> tuple[str, str]:
        text = _words(key)
        for category, matcher in self._matchers:
            if matcher.search(text):
                return category, self.remedies[category]
        return self.default_category, self.default_remedy


DEFAULT_REMEDIES = RemedyMap(
    keywords={
        "format": ("format", "json", "schema", "parse", "field", "structure", "markdown", "xml", "yaml",
                   "length", "malformed"),
        "tone": ("tone", "style", "voice", "brand", "politeness"),
        "knowledge": ("hallucination", "hallucinated", "missing knowledge", "outdated", "fact", "citation",
                      "unknown entity"),
        "instruction": ("instruction", "ignored", "did not follow", "not follow", "refusal", "refused",
                        "off-topic"),
    },
    remedies={"format": "fine-tune", "tone": "fine-tune", "knowledge": "retrieval", "instruction": "prompt"},
)


def find_patterns(
    failures: pd.DataFrame,
    as_of: datetime,
    params: PatternParams,
    remedies: RemedyMap | None = None,
) -> tuple[FailurePattern, ...]:
    """The failure patterns of one workload, recurring first, then by cases.

    `failures` has columns `created_at` (UTC), `failure_mode` and `text` (already redacted).
    Week 0 is (as_of − 7 days, as_of]; `weekly_counts` runs oldest → newest over the window.
    Only keys with cases in the window are returned. Rows with neither a failure mode nor text
    have no key but still count in the denominator of `share`; rows without a timestamp are ignored.
    """
    one = failures.assign(workload="") if not failures.empty else failures
    return find_patterns_by_workload(one, as_of, lambda _name: params, remedies).get("", ())


def find_patterns_by_workload(
    failures: pd.DataFrame,
    as_of: datetime,
    params_of: Callable[[str], PatternParams],
    remedies: RemedyMap | None = None,
) -> dict[str, tuple[FailurePattern, ...]]:
    """`find_patterns` of every workload in `failures` (plus a `workload` column), each with its
    own `params_of(workload)`; templates are mined per workload. The columns are converted once
    for all workloads: per workload, pandas' fixed cost per operation outweighed the work."""
    remedies = remedies or DEFAULT_REMEDIES
    as_of_ts = pd.Timestamp(as_of)
    if as_of_ts.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    if failures.empty:
        return {}
    created = pd.to_datetime(failures["created_at"], utc=True).reset_index(drop=True)
    frame = (
        failures[["workload", "failure_mode", "text"]]
        .reset_index(drop=True)
        .assign(ts=created)
        .loc[created.notna()]
        .sort_values(["workload", "ts"], kind="stable")  # per workload, oldest first
    )
    week = ((as_of_ts - frame["ts"]) // pd.Timedelta(days=7)).to_numpy(dtype=np.int64)
    days = frame["ts"].dt.date.tolist()
    texts = _objects(frame["text"])
    modes = _objects(frame["failure_mode"])
    names = frame["workload"].tolist()
    labels: dict[str, tuple[str, bool]] = {}  # failure_mode → (label, is a key), shared by all workloads
    out: dict[str, tuple[FailurePattern, ...]] = {}
    start = 0
    while start < len(names):
        end = start + 1
        while end < len(names) and names[end] == names[start]:
            end += 1
        rows = slice(start, end)
        keys, from_label = _keys(modes[rows], texts[rows], labels)
        name = str(names[start])
        found = _patterns(keys, from_label, week[rows], days[rows], texts[rows], params_of(name), remedies)
        if found:
            out[name] = found
        start = end
    return out


def _patterns(
    keys: list[str | None],
    from_label: list[bool],
    week: np.ndarray,
    days: list[date],
    texts: list[object],
    params: PatternParams,
    remedies: RemedyMap,
) -> tuple[FailurePattern, ...]:
    """One workload's patterns from its rows, oldest first."""
    window = params.window_weeks
    in_window = (week >= 0) & (week < window)
    total_in_window = int(in_window.sum())
    rows = [i for i in np.flatnonzero(in_window) if keys[i] is not None]
    if not rows:
        return ()
    codes, uniques = pd.factorize(np.array([keys[i] for i in rows], dtype=object))
    matrix = np.zeros((len(uniques), window), dtype=np.int64)
    np.add.at(matrix, (codes, window - 1 - week[rows]), 1)  # column 0 = oldest week
    cases = matrix.sum(axis=1)
    weeks_seen = (matrix > 0).sum(axis=1)
    trends = _trends(matrix)

    first_seen: dict[str, date] = {}
    last_seen: dict[str, date] = {}
    labelled: set[str] = set()
    for key, day, is_label in zip(keys, days, from_label):
        if key is not None:
            first_seen.setdefault(key, day)
            last_seen[key] = day
            if is_label:
                labelled.add(key)
    excerpts = _excerpts(keys, texts, params.max_excerpts)

    patterns = []
    for i, key in enumerate(uniques):
        category, remedy = remedies.classify(key)
        patterns.append(
            FailurePattern(
                key=key,
                source="label" if key in labelled else "template",
                cases=int(cases[i]),
                weeks_seen=int(weeks_seen[i]),
                window_weeks=window,
                weekly_counts=tuple(int(c) for c in matrix[i]),
                first_seen=first_seen[key],
                last_seen=last_seen[key],
                trend=trends[i],
                share=int(cases[i]) / total_in_window,
                recurring=bool(weeks_seen[i] >= params.min_weeks and cases[i] >= params.min_cases),
                remedy=remedy,
                category=category,
                excerpts=excerpts.get(key, ()),
            )
        )
    patterns.sort(key=lambda p: (not p.recurring, -p.cases, p.key))
    return tuple(patterns)


def _objects(column: pd.Series) -> list[object]:
    """The column as Python objects, missing values as None (fast for pandas string columns)."""
    return list(column.to_numpy(dtype=object, na_value=None))


def _keys(
    modes: list[object], texts: list[object], labels: dict[str, tuple[str, bool]]
) -> tuple[list[str | None], list[bool]]:
    """Per row: the key (None when there is nothing to key on) and whether it is a label.
    `labels` caches `_label` of each failure mode seen."""
    keys: list[str | None] = [None] * len(modes)
    from_label = [False] * len(modes)
    to_mine: dict[str, list[int]] = {}
    for i, (mode, text) in enumerate(zip(modes, texts)):
        label, is_key = "", False
        if isinstance(mode, str):
            if mode not in labels:
                labels[mode] = _label(mode)
            label, is_key = labels[mode]
        if is_key:
            keys[i], from_label[i] = label, True
            continue
        mined = _head(label) if label else _head(text) if isinstance(text, str) else ""
        if mined:
            to_mine.setdefault(mined, []).append(i)
    if to_mine:
        templates = _mine(to_mine)
        for text, rows in to_mine.items():
            for i in rows:
                keys[i] = templates[text]
    return keys, from_label


def _head(text: str) -> str:
    return " ".join(text[:_MAX_MINED_CHARS].split()[:_MAX_MINED_TOKENS])


def _label(mode: str) -> tuple[str, bool]:
    """A failure_mode cleaned, redacted (labels are raw warehouse data) and lowercased, and
    whether it is short enough to be a key rather than free text to mine."""
    clean = (excerpt(mode, _MAX_MINED_CHARS) or "").lower()
    return clean, bool(clean) and len(clean) <= _MAX_LABEL_CHARS and len(clean.split()) <= _MAX_LABEL_WORDS


class _BoundedDrain(Drain):
    """Drain3's Drain, comparing a text with at most the newest `_MAX_CANDIDATES` clusters of its leaf."""

    def fast_match(
        self, cluster_ids: Sequence[int], tokens: list[str], sim_th: float, include_params: bool
    ) -> LogCluster | None:
        return super().fast_match(cluster_ids[-_MAX_CANDIDATES:], tokens, sim_th, include_params)


def _mine(texts: Iterable[str]) -> dict[str, str]:
    """The Drain3 template of each text, its masked values as `<*>`.

    Texts that are equal once masked are mined once, in sorted order: similar texts arrive
    together (so a template is not evicted between its variants) and the result does not depend
    on row order. No TemplateMiner: its persistence and config file are not wanted here.
    """
    masker = LogMasker([MaskingInstruction(_MASK, "*")], "<", ">")
    drain = _BoundedDrain(depth=4, sim_th=0.4, max_clusters=_MAX_CLUSTERS, param_str="<*>")
    masked = {text: masker.mask(text) for text in texts}
    # an evicted cluster keeps its final template: hold the cluster objects, not their ids
    cluster_of = {m: drain.add_log_message(m)[0] for m in sorted(set(masked.values()))}
    return {text: cluster_of[m].get_template() for text, m in masked.items()}


def _trends(matrix: np.ndarray) -> list[str]:
    """Least-squares slope per row: rising/falling when beyond ±10% of the row's weekly mean."""
    n = matrix.shape[1]
    mean = matrix.mean(axis=1)
    if n < 2:
        return ["flat"] * matrix.shape[0]
    x = np.arange(n) - (n - 1) / 2
    slope = matrix @ x / float(x @ x)
    return ["rising" if s > 0.1 * m else "falling" if s < -0.1 * m else "flat" for s, m in zip(slope, mean)]


def _excerpts(keys: list[str | None], texts: list[object], limit: int) -> dict[str, tuple[str, ...]]:
    """Up to `limit` distinct non-empty texts per key, most recent first (rows are oldest first)."""
    out: dict[str, list[str]] = {}
    for key, text in zip(reversed(keys), reversed(texts)):
        if key is None or not isinstance(text, str) or not text.strip():
            continue
        chosen = out.setdefault(key, [])
        if len(chosen) < limit and text not in chosen:
            chosen.append(text)
    return {k: tuple(v) for k, v in out.items()}
