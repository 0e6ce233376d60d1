from __future__ import annotations

import random
import time
from collections.abc import Sequence
from datetime import date, datetime, timedelta, timezone

import pandas as pd
import pytest

from monitor.patterns import DEFAULT_REMEDIES, PatternParams, RemedyMap, find_patterns, find_patterns_by_workload

AS_OF = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
PARAMS = PatternParams()  # min_weeks 3, window_weeks 8, min_cases 20


def _at(week: int, hours: float = 1) -> datetime:
    """A time inside week bucket `week` (0 = the 7 days ending at AS_OF)."""
    return AS_OF - timedelta(days=7 * week, hours=hours)


Row = tuple[datetime, str | None, str | None]


def _frame(rows: Sequence[Row]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["created_at", "failure_mode", "text"])


def _cases(mode: str | None, per_week: dict[int, int], text: str | None = None) -> list[Row]:
    return [(_at(w, 1 + i), mode, text) for w, n in per_week.items() for i in range(n)]


def test_recurring_at_exactly_min_weeks_and_min_cases() -> None:
    (p,) = find_patterns(_frame(_cases("format error", {0: 7, 3: 7, 7: 6})), AS_OF, PARAMS)
    assert (p.key, p.source, p.cases, p.weeks_seen, p.recurring) == ("format error", "label", 20, 3, True)
    assert p.weekly_counts == (6, 0, 0, 0, 7, 0, 0, 7)  # oldest → newest
    assert p.window_weeks == 8 and p.share == 1.0


@pytest.mark.parametrize(
    "per_week",
    [{0: 7, 3: 7, 7: 5}, {0: 10, 1: 10}],  # 19 cases in 3 weeks; 20 cases in 2 weeks
    ids=["below-min-cases", "below-min-weeks"],
)
def test_not_recurring_below_thresholds(per_week: dict[int, int]) -> None:
    (p,) = find_patterns(_frame(_cases("format error", per_week)), AS_OF, PARAMS)
    assert p.recurring is False


def test_cases_outside_the_window_do_not_count() -> None:
    rows = _cases("format error", {8: 10, 9: 10, 10: 10}) + _cases("format error", {0: 1}) + _cases("tone", {9: 30})
    (p,) = find_patterns(_frame(rows), AS_OF, PARAMS)  # "tone" has no case in the window
    assert (p.key, p.cases, p.weeks_seen, p.recurring) == ("format error", 1, 1, False)
    assert p.first_seen == _at(10, 10).date()  # first/last seen span all data given
    assert p.last_seen == _at(0).date()
    assert p.share == 1.0  # share is over the window only


def test_week_boundaries() -> None:
    rows = [
        (AS_OF, "x", None),  # week 0 includes as_of
        (AS_OF - timedelta(days=7), "x", None),  # (as_of-14d, as_of-7d] is week 1
        (AS_OF - timedelta(days=56), "x", None),  # week 8: outside an 8-week window
        (AS_OF + timedelta(seconds=1), "x", None),  # after as_of: not counted
    ]
    (p,) = find_patterns(_frame(rows), AS_OF, PARAMS)
    assert p.weekly_counts == (0, 0, 0, 0, 0, 0, 1, 1)


def test_templates_merge_variants() -> None:
    texts = [
        "Missing field 'amount' in row 123",
        "Missing field 'currency' in row 7",
        'Missing field "due date" in row 99',
        "Missing field `tax_id` in row 4012",
    ]
    rows = [(_at(w, i + 1), None, texts[(w + i) % 4]) for w in range(4) for i in range(6)]
    rows += [(_at(0), None, "Request 3f2a9c1e-1b2c-4d5e-8f90-123456789abc timed out after 30s")]
    rows += [(_at(1), None, "Request 0a1b2c3d-aaaa-4bbb-8ccc-000000000000 timed out after 30s")]
    patterns = find_patterns(_frame(rows), AS_OF, PARAMS)
    assert [(p.key, p.source, p.cases, p.recurring) for p in patterns] == [
        ("Missing field <*> in row <*>", "template", 24, True),
        ("Request <*> timed out after 30s", "template", 2, False),
    ]
    assert patterns[0].category == "format" and patterns[0].remedy == "fine-tune"


def test_numbers_inside_words_are_not_wildcards() -> None:
    rows = [(_at(0), None, "gpt-4o returned v1.2 output for row 17")]
    (p,) = find_patterns(_frame(rows), AS_OF, PARAMS)
    assert p.key == "gpt-4o returned v1.2 output for row <*>"


def test_labels_are_normalised() -> None:
    rows = [(_at(0), "  Format   ERROR ", None), (_at(1), "format error", None), (_at(2), "FORMAT\terror", None)]
    (p,) = find_patterns(_frame(rows), AS_OF, PARAMS)
    assert (p.key, p.cases, p.source) == ("format error", 3, "label")


def test_long_free_text_failure_mode_is_mined() -> None:
    rows = [
        (_at(0), "The model answered with the refund policy of 2021 instead of the current one", None),
        (_at(1), "The model answered with the refund policy of 2019 instead of the current one", None),
    ]
    (p,) = find_patterns(_frame(rows), AS_OF, PARAMS)
    assert p.source == "template"
    assert p.key == "the model answered with the refund policy of <*> instead of the current one"


@pytest.mark.parametrize(
    ("counts", "trend"),
    [
        ({7: 1, 6: 2, 5: 3, 4: 4, 3: 5, 2: 6, 1: 7, 0: 8}, "rising"),
        ({7: 8, 6: 7, 5: 6, 4: 5, 3: 4, 2: 3, 1: 2, 0: 1}, "falling"),
        ({w: 5 for w in range(8)}, "flat"),
        ({7: 10, 6: 10, 5: 10, 4: 10, 3: 10, 2: 10, 1: 10, 0: 12}, "flat"),  # slope 0.17/week < 10% of the mean (1.03)
        ({0: 3}, "rising"),  # new this week
    ],
)
def test_trend(counts: dict[int, int], trend: str) -> None:
    (p,) = find_patterns(_frame(_cases("x", counts)), AS_OF, PARAMS)
    assert p.trend == trend


@pytest.mark.parametrize(
    ("key", "category", "remedy"),
    [
        ("format error", "format", "fine-tune"),
        ("invalid_json", "format", "fine-tune"),
        ("schema violation", "format", "fine-tune"),
        ("tone too casual", "tone", "fine-tune"),
        ("off-brand voice", "tone", "fine-tune"),
        ("hallucinated refund policy", "knowledge", "retrieval"),
        ("outdated pricing", "knowledge", "retrieval"),
        ("ignored system instruction", "instruction", "prompt"),
        ("did not follow the steps", "instruction", "prompt"),
        ("refusal", "instruction", "prompt"),
        ("timeout", "other", "investigate"),
        ("reformatted", "other", "investigate"),  # keywords match at the start of a word only
    ],
)
def test_default_remedies(key: str, category: str, remedy: str) -> None:
    assert DEFAULT_REMEDIES.classify(key) == (category, remedy)
    (p,) = find_patterns(_frame([(_at(0), key, None)]), AS_OF, PARAMS)
    assert (p.category, p.remedy) == (category, remedy)


def test_custom_remedy_map() -> None:
    custom = RemedyMap(keywords={"latency": ["timeout", "slow"]}, remedies={"latency": "fine-tune"})
    (p,) = find_patterns(_frame([(_at(0), "Timeout", None)]), AS_OF, PARAMS, custom)
    assert (p.category, p.remedy) == ("latency", "fine-tune")
    assert custom.classify("format error") == ("other", "investigate")


def test_remedy_map_validation() -> None:
    with pytest.raises(ValueError, match="no remedy for category 'x'"):
        RemedyMap(keywords={"x": ["a"]}, remedies={})
    with pytest.raises(ValueError, match="remedies.x"):
        RemedyMap(keywords={"x": ["a"]}, remedies={"x": "pray"})


def test_share_excerpts_and_order() -> None:
    rows = _cases("format error", {0: 10, 1: 10, 2: 10}, text="bad json")
    tone_texts = [(1, "newest"), (2, "newest"), (3, "middle"), (4, "older"), (5, "oldest")]
    rows += [(_at(3, h), "tone", t) for h, t in tone_texts]
    rows += [(_at(0), None, None), (_at(0), "", "   ")]  # nothing to key on: only in the denominator
    patterns = find_patterns(_frame(rows), AS_OF, PARAMS)
    assert [p.key for p in patterns] == ["format error", "tone"]
    fmt, tone = patterns
    assert fmt.recurring and not tone.recurring
    assert fmt.share == 30 / 37 and tone.share == 5 / 37
    assert fmt.excerpts == ("bad json",)
    assert tone.excerpts == ("newest", "middle", "older")
    assert find_patterns(_frame(rows), AS_OF, PatternParams(max_excerpts=0))[1].excerpts == ()


def test_empty_and_keyless_input() -> None:
    assert find_patterns(_frame([]), AS_OF, PARAMS) == ()
    assert find_patterns(pd.DataFrame(), AS_OF, PARAMS) == ()
    assert find_patterns(_frame([(_at(0), None, None), (_at(1), " ", "")]), AS_OF, PARAMS) == ()


def test_naive_as_of_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        find_patterns(_frame([(_at(0), "x", None)]), AS_OF.replace(tzinfo=None), PARAMS)


def test_params_validation() -> None:
    with pytest.raises(ValueError):
        PatternParams(window_weeks=0)
    with pytest.raises(ValueError):
        PatternParams(min_cases=-1)


def test_hostile_strings() -> None:
    rows = [
        (_at(0), "Format\u202e error\x00 for bob@example.com", None),  # bidi, NUL, email in a label
        (_at(0), None, "x" * 10_000_000),
        (_at(0), None, "\udcff\udcfe invalid bytes 42"),
        (_at(0), None, "<*> <script>alert(1)</script> {{ 7*7 }} '; DROP TABLE x; --"),
        (_at(0), "<!channel>", None),
    ]
    start = time.perf_counter()
    keys = {p.key for p in find_patterns(_frame(rows), AS_OF, PARAMS)}
    assert time.perf_counter() - start < 1
    assert "format error for [email]" in keys
    assert "<!channel>" in keys  # escaping is the renderer's job; the key is kept as data
    assert not any("bob@example.com" in k or "\x00" in k for k in keys)


def test_result_does_not_depend_on_row_order() -> None:
    rows = [(_at(w, i), None, f"Missing field 'f{i}' in row {i}") for w in range(3) for i in range(1, 9)]
    rows += [(_at(w, i), None, f"Tool {name} failed with code {i}") for w in range(3) for i, name in enumerate("abc")]
    shuffled = rows[:]
    random.Random(7).shuffle(shuffled)
    assert find_patterns(_frame(rows), AS_OF, PARAMS) == find_patterns(_frame(shuffled), AS_OF, PARAMS)


def test_ten_thousand_failures_under_a_second() -> None:
    rng = random.Random(1)
    templates = [
        "Missing field '{w}' in row {n}",
        "Invalid JSON at position {n}: expected '{w}'",
        "Tone too casual for brand {w}",
        "Hallucinated order id {h}",
        "Tool {w} timed out after {n} ms",
    ]
    words = ["amount", "currency", "due_date", "acme", "globex", "initech"]
    rows = []
    for _ in range(12_000):
        values = {"w": rng.choice(words), "n": rng.randint(1, 10**6), "h": f"{rng.getrandbits(48):012x}"}
        text = rng.choice(templates).format(**values)
        mode = rng.choice([None, None, None, "format error", "Tone", "hallucination"])
        rows.append((AS_OF - timedelta(hours=rng.uniform(0, 24 * 7 * 12)), mode, text))
    frame = _frame(rows)
    start = time.perf_counter()
    patterns = find_patterns(frame, AS_OF, PARAMS)
    assert time.perf_counter() - start < 1
    assert {p.key for p in patterns} >= {"format error", "tone", "hallucination", "Missing field <*> in row <*>"}
    assert all(p.recurring for p in patterns[:5])
    assert all(isinstance(p.first_seen, date) for p in patterns)


def test_many_workloads_at_once_equal_each_workload_alone() -> None:
    """Each workload gets its own parameters and its own mined templates, in any row order."""
    per_workload = {
        "alpha": [(_at(w, i), None, f"Missing field 'f{i}' in row {i}") for w in range(4) for i in range(1, 7)],
        "beta": _cases("tone", {0: 3, 1: 3, 2: 3}) + [(_at(1), None, "Missing field 'x' at column 3")],
        "o'brien <script>": _cases("format error", {0: 25, 5: 1}),
        "empty": [(_at(0), None, None)],
    }
    params = {"alpha": PatternParams(min_cases=5), "beta": PatternParams(window_weeks=2, min_weeks=1, min_cases=1)}
    frame = pd.concat([_frame(rows).assign(workload=name) for name, rows in per_workload.items()])
    frame = frame.sample(frac=1, random_state=3)
    together = find_patterns_by_workload(frame, AS_OF, lambda name: params.get(name, PARAMS))
    alone = {name: find_patterns(_frame(rows), AS_OF, params.get(name, PARAMS)) for name, rows in per_workload.items()}
    assert together == {name: found for name, found in alone.items() if found}
    assert together["alpha"][0].recurring and together["beta"][0].window_weeks == 2
    assert find_patterns_by_workload(frame.iloc[0:0], AS_OF, lambda name: PARAMS) == {}
