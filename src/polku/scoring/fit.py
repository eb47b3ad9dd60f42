"""Fit points: who the contact is (role, organisational level) and what its account is
(industry, size, country). Traits are compared case-insensitively; a missing trait
passes no test. Written as an engine expression and as a Python test, kept equal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import ibis
import ibis.expr.types as ir

from polku.scoring.rules import FitRule

# The traits fit rules read, in the order the traits table carries them.
TRAITS: Final[tuple[str, ...]] = ("role", "org_level", "industry", "employees", "country")


def traits_table(contacts: ir.Table, accounts: ir.Table) -> ir.Table:
    """Per contact: its account and the traits fit rules test."""
    acc = accounts.select("account_id", "industry", "employees", "country")
    joined = contacts.left_join(acc, contacts.account_id == acc.account_id)
    return joined.select(
        contacts.contact_id, contacts.account_id, contacts.role, contacts.org_level,
        acc.industry, acc.employees, acc.country,
    )


def fit_expr(t: ir.Table, rule: FitRule) -> ir.FloatingValue:
    """The rule's points for each row of a traits table (0 when it does not apply)."""
    column = t[rule.field]
    if rule.field == "employees":
        conds = []
        if rule.min is not None:
            conds.append(column >= rule.min)
        if rule.max is not None:
            conds.append(column <= rule.max)
        test = ibis.and_(*conds)
    else:
        test = column.lower().isin(sorted(rule.values))
    return ibis.ifelse(test.fill_null(False), float(rule.points), 0.0)


def fit_points(rule: FitRule, traits: Mapping[str, Any]) -> float:
    """The rule's points for one contact's traits."""
    value = traits.get(rule.field)
    if value is None:
        return 0.0
    if rule.field == "employees":
        try:
            n = float(value)
        except (TypeError, ValueError):
            return 0.0
        ok = (rule.min is None or n >= rule.min) and (rule.max is None or n <= rule.max)
    else:
        ok = str(value).lower() in rule.values
    return float(rule.points) if ok else 0.0
