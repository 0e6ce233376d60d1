from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from pydantic import ValidationError

from monitor.pricing import PriceEntry, PriceTable, cost_usd, estimate_savings, monthly_cost_of_usage

ON = date(2025, 5, 20)


@pytest.fixture(scope="module")
def table() -> PriceTable:
    return PriceTable.load()


def _entry(**kw: object) -> PriceEntry:
    base: dict[str, object] = {"model": "m", "input_per_mtok": 1, "output_per_mtok": 2}
    return PriceEntry.model_validate(base | kw)


def test_builtin_table_has_source_date_and_prices(table: PriceTable) -> None:
    assert isinstance(table.source_date, date)
    e = table.lookup("gpt-4o", ON)
    assert e is not None and e.input_per_mtok == Decimal("2.50") and e.output_per_mtok == Decimal("10")


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-4o-2024-08-06", "gpt-4o-2024-08-06"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("gpt-4.1-nano", "gpt-4.1-nano"),
        ("o3-mini", "o3-mini"),
        ("claude-3-5-sonnet-20241022", "claude-3.5-sonnet"),
        ("claude-3-haiku-20240307", "claude-3-haiku"),
        ("us.anthropic.claude-3-5-haiku-20241022-v1:0", "claude-3.5-haiku"),
        ("claude-sonnet-4-20250514", "claude-sonnet-4"),
        ("gemini-2.0-flash", "gemini-2.0-flash"),
        ("gemini-1.5-pro-002", "gemini-1.5-pro"),
        ("mistral-small-latest", "mistral-small"),
        ("Meta-Llama-3.1-70B-Instruct-Turbo", "llama-3.1-70b"),
    ],
)
def test_pattern_match(table: PriceTable, model: str, expected: str) -> None:
    e = table.lookup(model, ON)
    assert e is not None and e.model == expected


@pytest.mark.parametrize(
    "model",
    [
        "openai/gpt-4o",
        "azure/gpt-4o",
        "bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0",
        "anthropic/claude-3-5-sonnet-latest",
    ],
)
def test_provider_prefix_is_stripped(table: PriceTable, model: str) -> None:
    e = table.lookup(model, ON)
    assert e is not None and e.model in {"gpt-4o", "claude-3.5-sonnet"}


def test_case_insensitive_and_whitespace(table: PriceTable) -> None:
    assert table.lookup(" GPT-4o-MINI ", ON) == table.lookup("gpt-4o-mini", ON)
    assert table.lookup("OpenAI/GPT-4O", ON) == table.lookup("gpt-4o", ON)


def test_newest_started_price_wins(table: PriceTable) -> None:
    old = table.lookup("gpt-4o", date(2024, 6, 1))
    new = table.lookup("gpt-4o", date(2024, 10, 2))
    assert old is not None and old.input_per_mtok == Decimal("5") and old.output_per_mtok == Decimal("15")
    assert new is not None and new.input_per_mtok == Decimal("2.5")
    assert table.lookup("gpt-4o", date(2024, 5, 12)) is None  # before the model's first price


def test_mini_is_not_priced_as_its_big_sibling(table: PriceTable) -> None:
    mini = table.lookup("gpt-4o-mini", ON)
    assert mini is not None and mini.model == "gpt-4o-mini" and mini.input_per_mtok == Decimal("0.15")
    assert table.lookup("gpt-4.1-mini", ON).model == "gpt-4.1-mini"  # type: ignore[union-attr]


def test_exact_name_beats_a_generic_pattern() -> None:
    t = PriceTable([_entry(model="gpt-4o", match_pattern="gpt-4o.*", start_date=date(2025, 1, 1)),
                    _entry(model="gpt-4o-mini", start_date=date(2024, 1, 1), input_per_mtok="0.15")])
    assert t.lookup("gpt-4o-mini", ON).model == "gpt-4o-mini"  # type: ignore[union-attr]
    assert t.lookup("gpt-4o-whatever", ON).model == "gpt-4o"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("model", "expected", "training"),
    [
        ("ft:gpt-4o-mini", "ft:gpt-4o-mini", "3"),
        ("ft:gpt-4o-mini-2024-07-18:acme::9aBcD", "ft:gpt-4o-mini", "3"),
        ("ft:gpt-4o-2024-08-06:acme:triage:xyz", "ft:gpt-4o", "25"),
        ("ft:gpt-3.5-turbo-0125:acme::abc", "ft:gpt-3.5-turbo", "8"),
        ("ft:gpt-4.1-mini-2025-04-14:acme::q", "ft:gpt-4.1-mini", "5"),
    ],
)
def test_fine_tuned_variants(table: PriceTable, model: str, expected: str, training: str) -> None:
    e = table.lookup(model, ON)
    assert e is not None and e.model == expected and e.training_per_mtok == Decimal(training)


def test_builtin_names_do_not_overlap(table: PriceTable) -> None:
    """No built-in model name is matched by another model's pattern (exactness aside)."""
    entries = [c.entry for c in table._candidates]
    for name in {e.model for e in entries}:
        others = {e.model for e in entries if e.model != name and e.pattern.fullmatch(name)}
        assert not others, (name, others)


def test_user_entry_replaces_builtin_with_same_name() -> None:
    t = PriceTable.load([_entry(model="GPT-4o", match_pattern="gpt-4o", input_per_mtok="1.25", output_per_mtok="5")])
    e = t.lookup("gpt-4o", date(2024, 6, 1))  # also replaces the older built-in price
    assert e is not None and e.input_per_mtok == Decimal("1.25")
    assert t.lookup("gpt-4o-mini", ON).model == "gpt-4o-mini"  # type: ignore[union-attr]


def test_user_entry_wins_when_both_match() -> None:
    negotiated = _entry(model="negotiated-gpt4", match_pattern="gpt-4.*", input_per_mtok="0.5", output_per_mtok="1")
    t = PriceTable.load([negotiated])
    assert t.lookup("gpt-4o-mini", ON).model == "negotiated-gpt4"  # type: ignore[union-attr]
    assert t.lookup("claude-3-haiku", ON).model == "claude-3-haiku"  # type: ignore[union-attr]


def test_user_entry_for_unknown_model_and_full_string_with_prefix() -> None:
    t = PriceTable.load([_entry(model="azure/prod-deploy", input_per_mtok="4", output_per_mtok="12")])
    assert t.lookup("Azure/Prod-Deploy", ON).input_per_mtok == Decimal("4")  # type: ignore[union-attr]
    assert t.lookup("azure/other-deploy", ON) is None


def test_unpriced_model(table: PriceTable) -> None:
    assert table.lookup("my-local-model", ON) is None
    assert table.lookup("", ON) is None
    assert table.lookup(None, ON) is None


def test_price_entry_validation() -> None:
    with pytest.raises(ValidationError, match="extra"):
        _entry(price=1)
    with pytest.raises(ValidationError, match="regular expression"):
        _entry(match_pattern="gpt-(4")
    with pytest.raises(ValidationError):
        _entry(input_per_mtok=-1)
    with pytest.raises(ValidationError):
        _entry(output_per_mtok=float("nan"))


def test_decimal_exactness() -> None:
    e = _entry(input_per_mtok=0.1, output_per_mtok=0.2)
    assert e.input_per_mtok == Decimal("0.1")
    assert cost_usd(e, 3_000_000, 1_000_000) == Decimal("0.5")  # float arithmetic gives 0.5000000000000001
    assert cost_usd(e, 1, 1) == Decimal("0.0000003")
    assert cost_usd(_entry(input_per_mtok="0.075", output_per_mtok="0.3"), 1_000_001, 0) == Decimal("0.075000075")


def test_monthly_cost_of_usage(table: PriceTable) -> None:
    rows = [
        ("gpt-4o", date(2024, 9, 30), 1_000_000, 0),  # $5
        ("gpt-4o", datetime(2024, 10, 2, tzinfo=timezone.utc), 1_000_000, 100_000),  # $2.50 + $1
        ("mystery-model", date(2024, 10, 3), 5, 5),
        (None, date(2024, 10, 3), 5, 5),
    ]
    total, unpriced = monthly_cost_of_usage(rows, table)
    assert total == Decimal("8.5")
    assert unpriced == {"mystery-model", "(no model)"}


def test_estimate_savings_hand_computed(table: PriceTable) -> None:
    est = estimate_savings("gpt-4o", "ft:gpt-4o-mini", 12_400_000, 3_100_000, 2_000_000, 3, ON, table)
    # current: 12.4 × 2.50 + 3.1 × 10 = 31 + 31 = 62; candidate: 12.4 × 0.30 + 3.1 × 1.20 = 3.72 + 3.72 = 7.44
    assert est.current_monthly_cost_usd == Decimal("62")
    assert est.candidate_monthly_cost_usd == Decimal("7.44")
    assert est.monthly_savings_usd == Decimal("54.56")
    assert est.training_cost_usd == Decimal("18")  # 2M × 3 epochs × $3/M
    assert est.payback_months == Decimal("0.33")  # 18 / 54.56 = 0.3299…
    assert est.unpriced_models == ()
    assert "12.4M input tokens × $2.50/M = $31.00" in est.notes
    assert "training: 2M tokens × 3 epochs × $3.00/M = $18.00" in est.notes


def test_estimate_savings_uses_provided_cost(table: PriceTable) -> None:
    est = estimate_savings("in-house-gw", "ft:gpt-4o-mini", 1_000_000, 1_000_000, 10_000_000, 2, ON, table,
                           provided_monthly_cost=Decimal("100"))
    assert est.current_monthly_cost_usd == Decimal("100")
    assert est.candidate_monthly_cost_usd == Decimal("1.5")
    assert est.monthly_savings_usd == Decimal("98.5")
    assert est.training_cost_usd == Decimal("60")
    assert est.payback_months == Decimal("0.61")  # 60 / 98.5 = 0.609…
    assert est.unpriced_models == ()  # the current model's price is not needed


def test_negative_savings_has_no_payback(table: PriceTable) -> None:
    est = estimate_savings("gpt-4o-mini", "ft:gpt-4o", 1_000_000, 0, 1_000_000, 3, ON, table)
    assert est.monthly_savings_usd == Decimal("0.15") - Decimal("3.75")
    assert est.training_cost_usd == Decimal("75")
    assert est.payback_months is None


def test_zero_savings_has_no_payback(table: PriceTable) -> None:
    est = estimate_savings("gpt-4o", "gpt-4o", 1_000_000, 1_000_000, 0, 3, ON, table)
    assert est.monthly_savings_usd == 0 and est.payback_months is None


def test_unpriced_models_are_never_zero(table: PriceTable) -> None:
    est = estimate_savings("secret-model", "ft:custom-base", 1_000_000, 1_000_000, 1_000_000, 3, ON, table)
    assert est.current_monthly_cost_usd is None
    assert est.candidate_monthly_cost_usd is None
    assert est.monthly_savings_usd is None
    assert est.training_cost_usd is None
    assert est.payback_months is None
    assert est.unpriced_models == ("secret-model", "ft:custom-base")
    assert any("not zero" in n for n in est.notes)


def test_candidate_without_training_price(table: PriceTable) -> None:
    est = estimate_savings("gpt-4o", "gpt-4o-mini", 1_000_000, 0, 1_000_000, 3, ON, table)
    assert est.monthly_savings_usd == Decimal("2.35")
    assert est.training_cost_usd is None and est.payback_months is None


def test_no_candidate_configured(table: PriceTable) -> None:
    est = estimate_savings("gpt-4o", None, 1_000_000, 0, 0, 3, ON, table)
    assert est.current_monthly_cost_usd == Decimal("2.5")
    assert est.candidate_monthly_cost_usd is None and est.unpriced_models == ()
