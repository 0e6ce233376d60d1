"""Model prices and cost arithmetic.

A dated price table in the style of Langfuse's: each entry names a model, a regex matched
case-insensitively against the whole model string, the day the price starts, and USD prices per
1M input / output (and, for fine-tunable models, training) tokens. The built-in table is package
data (`monitor/data/prices.yaml`); `pricing:` entries from the config override it.

All money is `Decimal`. A model the table does not know is *unpriced*: its cost is `None` and it is
reported, never counted as zero.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from monitor.model import CostEstimate

_MILLION = Decimal(1_000_000)
_CENT = Decimal("0.01")


class PriceEntry(BaseModel):
    """One price of one model from `start_date` on (None: for all dates)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(min_length=1)
    match_pattern: str | None = None  # default: the model name, exactly
    start_date: date | None = None
    input_per_mtok: Decimal = Field(ge=0, allow_inf_nan=False)
    output_per_mtok: Decimal = Field(ge=0, allow_inf_nan=False)
    training_per_mtok: Decimal | None = Field(default=None, ge=0, allow_inf_nan=False)
    provider: str | None = None

    @field_validator("match_pattern")
    @classmethod
    def _pattern_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return value

    @property
    def pattern(self) -> re.Pattern[str]:
        return _compile(self.match_pattern if self.match_pattern is not None else re.escape(self.model))


@lru_cache(maxsize=1024)
def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


@dataclass(frozen=True)
class _Candidate:
    entry: PriceEntry
    user: bool


class PriceTable:
    """Built-in prices plus user overrides; `lookup` picks the price of a model on a day."""

    def __init__(
        self,
        entries: Sequence[PriceEntry],
        user_entries: Sequence[PriceEntry] = (),
        source_date: date | None = None,
    ):
        replaced = {e.model.casefold() for e in user_entries}
        self._candidates = tuple(
            [_Candidate(e, False) for e in entries if e.model.casefold() not in replaced]
            + [_Candidate(e, True) for e in user_entries]
        )
        self.source_date = source_date

    @classmethod
    def load(cls, user_entries: Iterable[PriceEntry] = ()) -> PriceTable:
        """The built-in table with `user_entries` applied.

        A user entry replaces every built-in entry with the same model name (all its dated prices);
        otherwise, when a user entry and a built-in both match a model, the user entry wins.
        """
        builtin, source_date = _builtin()
        return cls(builtin, tuple(user_entries), source_date)

    def start_dates(self) -> list[date]:
        """Every day on which some price starts: between two of them every model's price is constant."""
        return sorted({c.entry.start_date for c in self._candidates if c.entry.start_date is not None})

    def lookup(self, model: str | None, on: date) -> PriceEntry | None:
        """The price of `model` on day `on`, or None when it is unpriced.

        The full string is tried first (so users can price `azure/my-deployment`), then the name
        without its provider prefix (`openai/gpt-4o` → `gpt-4o`). Among entries that match and
        have started by `on`: user entries beat built-ins, an exact model-name match beats a
        pattern match, then the newest start date wins.
        """
        if not isinstance(model, str) or not model.strip():
            return None
        if isinstance(on, datetime):
            on = on.date()
        name = model.strip()
        names = [name]
        if "/" in name:
            names.append(name.rsplit("/", 1)[1])
        for candidate_name in names:
            best = self._best(candidate_name, on)
            if best is not None:
                return best
        return None

    def _best(self, name: str, on: date) -> PriceEntry | None:
        folded = name.casefold()
        best_key: tuple[bool, bool, date, int] | None = None
        best: PriceEntry | None = None
        for c in self._candidates:
            e = c.entry
            if e.start_date is not None and e.start_date > on:
                continue
            exact = e.model.casefold() == folded
            if not exact and e.pattern.fullmatch(name) is None:
                continue
            key = (c.user, exact, e.start_date or date.min, len(e.model))  # last: longer name, more specific
            if best_key is None or key > best_key:
                best_key, best = key, e
        return best


@lru_cache(maxsize=1)
def _builtin() -> tuple[tuple[PriceEntry, ...], date]:
    text = resources.files("monitor").joinpath("data/prices.yaml").read_text(encoding="utf-8")
    # libyaml's safe loader where PyYAML has it: the table is large and pure-Python parsing took ~0.1 s
    raw: dict[str, Any] = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
    return tuple(PriceEntry.model_validate(e) for e in raw["entries"]), raw["source_date"]


def _dec(value: Any, what: str) -> Decimal:
    """An exact Decimal of a count or amount (floats via their shortest repr, as `Decimal(str(x))`)."""
    try:
        result = Decimal(str(value))
    except ArithmeticError:
        raise ValueError(f"{what} is not a number: {value!r}") from None
    if not result.is_finite():
        raise ValueError(f"{what} is not a finite number: {value!r}")
    return result


def cost_usd(entry: PriceEntry, input_tokens: int, output_tokens: int) -> Decimal:
    """Exact cost of the tokens at `entry`'s prices (not rounded)."""
    return (
        _dec(input_tokens, "input_tokens") * entry.input_per_mtok
        + _dec(output_tokens, "output_tokens") * entry.output_per_mtok
    ) / _MILLION


def monthly_cost_of_usage(
    rows: Iterable[tuple[str | None, date | datetime, int, int]], table: PriceTable
) -> tuple[Decimal, set[str]]:
    """Cost of usage rows `(model, day, input_tokens, output_tokens)`, each at its day's price.

    Returns the total of the priced rows and the set of unpriced models (a missing model is
    "(no model)"). When that set is not empty the total is incomplete: callers must not present
    it as the full cost.
    """
    total = Decimal(0)
    unpriced: set[str] = set()
    prices: dict[tuple[str, date], PriceEntry | None] = {}
    for raw_model, day, input_tokens, output_tokens in rows:
        model = raw_model.strip() if isinstance(raw_model, str) and raw_model.strip() else "(no model)"
        on = day.date() if isinstance(day, datetime) else day
        key = (model, on)
        if key not in prices:
            prices[key] = table.lookup(model, on)
        entry = prices[key]
        if entry is None:
            unpriced.add(model)
        else:
            total += cost_usd(entry, input_tokens, output_tokens)
    return total, unpriced


def estimate_savings(
    current_model: str | None,
    candidate_model: str | None,
    monthly_input_tokens: int,
    monthly_output_tokens: int,
    training_tokens: int,
    epochs: int,
    on: date,
    table: PriceTable,
    provided_monthly_cost: Decimal | float | None = None,
) -> CostEstimate:
    """Monthly savings of moving this month's tokens to `candidate_model`, and the payback of training it.

    The current cost is `provided_monthly_cost` when the source gave one, else the tokens at the
    current model's price. Anything that needs an unpriced model is None and the model is listed
    in `unpriced_models`.
    """
    notes: list[str] = []
    unpriced: list[str] = []

    def price(model: str | None, role: str) -> PriceEntry | None:
        if model is None:
            notes.append(f"no {role} model configured")
            return None
        entry = table.lookup(model, on)
        if entry is None:
            unpriced.append(model)
            notes.append(f"{model} is not in the price table on {on.isoformat()}: its cost is unknown (not zero)")
        return entry

    current_cost: Decimal | None = None
    if provided_monthly_cost is not None:
        current_cost = _dec(provided_monthly_cost, "provided_monthly_cost")
        notes.append(f"current monthly cost {_usd(current_cost)} (provided by the source)")
    else:
        current_entry = price(current_model, "current")
        if current_entry is not None:
            current_cost = _tokens_cost_notes(
                current_entry, monthly_input_tokens, monthly_output_tokens, "current", notes
            )

    candidate_entry = price(candidate_model, "candidate")
    candidate_cost = None
    if candidate_entry is not None:
        candidate_cost = _tokens_cost_notes(
            candidate_entry, monthly_input_tokens, monthly_output_tokens, "candidate", notes
        )

    savings = None
    if current_cost is not None and candidate_cost is not None:
        savings = current_cost - candidate_cost
        notes.append(f"monthly savings = {_usd(current_cost)} − {_usd(candidate_cost)} = {_usd(savings)}")

    training_cost = None
    if candidate_entry is not None:
        if candidate_entry.training_per_mtok is None:
            notes.append(f"{candidate_entry.model} has no training price: training cost unknown")
        else:
            training_cost = (
                _dec(training_tokens, "training_tokens") * _dec(epochs, "epochs")
                * candidate_entry.training_per_mtok / _MILLION
            )
            notes.append(
                f"training: {_mtok(training_tokens)}M tokens × {epochs} epochs × "
                f"{_usd(candidate_entry.training_per_mtok)}/M = {_usd(training_cost)}"
            )

    payback = None
    if savings is not None and training_cost is not None:
        if savings > 0:
            payback = (training_cost / savings).quantize(_CENT, rounding=ROUND_HALF_UP)
            notes.append(f"payback = {_usd(training_cost)} / {_usd(savings)} per month = {payback} months")
        else:
            notes.append("no payback: the candidate model does not cost less per month")

    return CostEstimate(
        current_model=current_model,
        candidate_model=candidate_model,
        monthly_input_tokens=monthly_input_tokens,
        monthly_output_tokens=monthly_output_tokens,
        current_monthly_cost_usd=current_cost,
        candidate_monthly_cost_usd=candidate_cost,
        monthly_savings_usd=savings,
        training_tokens=training_tokens,
        epochs=epochs,
        training_cost_usd=training_cost,
        payback_months=payback,
        unpriced_models=tuple(dict.fromkeys(unpriced)),
        notes=tuple(notes),
    )


def _tokens_cost_notes(
    entry: PriceEntry, input_tokens: int, output_tokens: int, role: str, notes: list[str]
) -> Decimal:
    since = f" since {entry.start_date.isoformat()}" if entry.start_date else ""
    notes.append(f"{role} model priced as {entry.model}{since}")
    for kind, tokens, per_mtok in (
        ("input", input_tokens, entry.input_per_mtok),
        ("output", output_tokens, entry.output_per_mtok),
    ):
        amount = _dec(tokens, f"{kind}_tokens") * per_mtok / _MILLION
        notes.append(f"{_mtok(tokens)}M {kind} tokens × {_usd(per_mtok)}/M = {_usd(amount)}")
    total = cost_usd(entry, input_tokens, output_tokens)
    notes.append(f"{role} monthly cost ({entry.model}) = {_usd(total)}")
    return total


def _mtok(tokens: int) -> str:
    """Tokens in millions, exactly: 12_400_000 → "12.4"."""
    return format((_dec(tokens, "tokens") / _MILLION).normalize(), "f")


def _usd(amount: Decimal) -> str:
    """$1,234.50 for display; sub-cent amounts keep their significant digits ($0.075)."""
    sign = "-" if amount < 0 else ""
    amount = abs(amount)
    if amount == amount.quantize(_CENT) or amount >= 1:
        return f"{sign}${amount.quantize(_CENT, rounding=ROUND_HALF_UP):,}"
    return f"{sign}${format(amount.normalize(), 'f')}"
