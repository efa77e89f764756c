"""Rule tables: first-match-wins boxes of inclusive integer ranges, checked before any data.

A rule is a box (one inclusive range per field, unbounded where absent); the table's last
rule must be a catch-all. ``check_table`` proves on a compressed grid of cells that every
rule owns at least one cell that no earlier rule takes, and names the hiding rules if not.
Cells no customer can fall in (outside the fields' domains, or breaking an order between two
fields such as recency ≤ tenure) are left out: a rule that covers only those never matches.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from segscore.errors import ConfigError


@dataclass(frozen=True)
class Rule:
    """One row of a rule table. ``ranges`` maps field -> (lo, hi) inclusive; hi None = no limit."""

    key: str
    name: str
    action: str
    ranges: tuple[tuple[str, int, int | None], ...]

    def bounds(self, field: str) -> tuple[int | None, int | None]:
        """(lo, hi) of ``field``; (None, None) when the rule does not constrain it."""
        for f, lo, hi in self.ranges:
            if f == field:
                return lo, hi
        return None, None

    @property
    def is_catch_all(self) -> bool:
        return not self.ranges


@dataclass(frozen=True)
class RuleTable:
    """An ordered rule table over integer ``fields``, each with domain [lo, hi] (hi None = ∞);
    ``ordered`` lists pairs (a, b) of fields with a ≤ b in every row (recency ≤ tenure)."""

    name: str
    fields: tuple[str, ...]
    domain: tuple[tuple[int, int | None], ...]
    rules: tuple[Rule, ...]
    ordered: tuple[tuple[str, str], ...] = ()

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(r.key for r in self.rules)

    def to_dict(self) -> dict:
        """JSON-safe form, as stored in model.json."""
        return {
            "name": self.name,
            "fields": list(self.fields),
            "domain": [list(d) for d in self.domain],
            "rules": [{"key": r.key, "name": r.name, "action": r.action,
                       "ranges": {f: [lo, hi] for f, lo, hi in r.ranges}} for r in self.rules],
        }


def _intervals(table: RuleTable, axis: int) -> list[int]:
    """Start points of the elementary intervals of one field's domain."""
    field = table.fields[axis]
    dlo, dhi = table.domain[axis]
    cuts = {dlo}
    for rule in table.rules:
        lo, hi = rule.bounds(field)
        for p in (lo, None if hi is None else hi + 1):
            if p is not None and p > dlo and (dhi is None or p <= dhi):
                cuts.add(p)
    return sorted(cuts)


def _possible(table: RuleTable, axes: list[list[int]], point: tuple[int, ...]) -> bool:
    """Whether the cell starting at ``point`` holds a value of every field with a ≤ b for
    each ordered pair: a's smallest value in the cell is at most b's largest."""
    for a, b in table.ordered:
        ia, ib = table.fields.index(a), table.fields.index(b)
        starts = axes[ib]
        nxt = starts.index(point[ib]) + 1
        b_max = (starts[nxt] - 1 if nxt < len(starts) else table.domain[ib][1])
        if b_max is not None and point[ia] > b_max:
            return False
    return True


def _matches(rule: Rule, fields: tuple[str, ...], point: tuple[int, ...]) -> bool:
    for field, v in zip(fields, point):
        lo, hi = rule.bounds(field)
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            return False
    return True


def _span(lo: int | None, hi: int | None) -> str:
    """An inclusive range as messages write it, an open bound as -∞ / ∞ ("6..∞")."""
    return f"{'-∞' if lo is None else lo}..{'∞' if hi is None else hi}"


def check_table(table: RuleTable, where: str) -> None:
    """Raise ConfigError unless every rule owns a cell and the table ends in a catch-all.

    ``where`` names the config location for messages (e.g. "segments.rules").
    """
    if not table.rules:
        raise ConfigError(f"{where}: the table is empty")
    seen = set()
    for i, rule in enumerate(table.rules):
        if rule.key in seen:
            raise ConfigError(f"{where}[{i}] ({rule.key}): duplicate key")
        seen.add(rule.key)
        for field, lo, hi in rule.ranges:
            axis = table.fields.index(field)
            dlo, dhi = table.domain[axis]
            if lo is not None and hi is not None and lo > hi:
                raise ConfigError(f"{where}[{i}] ({rule.key}): {field} range {lo}..{hi} is empty")
            bad_lo = lo is not None and (lo < dlo or (dhi is not None and lo > dhi))
            bad_hi = hi is not None and (hi < dlo or (dhi is not None and hi > dhi))
            if bad_lo or bad_hi:
                raise ConfigError(f"{where}[{i}] ({rule.key}): {field} range "
                                  f"{_span(lo, hi)} is outside {_span(dlo, dhi)}")
    if not table.rules[-1].is_catch_all:
        raise ConfigError(f"{where}: the table must end in a catch-all rule (no ranges), "
                          f"but ends with '{table.rules[-1].key}'")
    owned = [False] * len(table.rules)
    hiders: list[set[str]] = [set() for _ in table.rules]
    axes = [_intervals(table, a) for a in range(len(table.fields))]
    for point in itertools.product(*axes):
        if not _possible(table, axes, point):
            continue
        matching = [i for i, r in enumerate(table.rules) if _matches(r, table.fields, point)]
        owner = matching[0]
        owned[owner] = True
        for i in matching[1:]:
            hiders[i].add(table.rules[owner].key)
    for i, rule in enumerate(table.rules):
        if not owned[i] and not hiders[i]:
            order = ", ".join(f"{a} ≤ {b}" for a, b in table.ordered)
            raise ConfigError(f"{where}[{i}] ({rule.key}) can never match: it covers only cases "
                              f"no customer has ({order} for every customer)")
        if not owned[i]:
            raise ConfigError(f"{where}[{i}] ({rule.key}) can never match: every case it covers "
                              f"is taken first by {', '.join(sorted(hiders[i]))}")
