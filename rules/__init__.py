"""Readiness rules: the rule pack, the criteria and the evaluator.

Pure functions (metrics in, verdicts out); this package never imports `connectors`.
"""

from __future__ import annotations

from rules.criteria import CRITERIA, Criterion, evaluate_criteria
from rules.evaluator import evaluate, evaluate_all
from rules.pack import RulePack, load_rule_pack

__all__ = [
    "CRITERIA",
    "Criterion",
    "RulePack",
    "evaluate",
    "evaluate_all",
    "evaluate_criteria",
    "load_rule_pack",
]
