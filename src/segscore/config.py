"""Run configuration: frozen dataclasses loaded from TOML data (never code), validated
before any data is read. A user file is laid over ``presets/defaults.toml`` key by key.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import tomllib
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from importlib import resources
from pathlib import Path
from typing import Any

from segscore.clusters import FEATURES, MAX_K, ClusterSettings, unknown_features
from segscore.errors import ConfigError
from segscore.regular import read_text
from segscore.rules import Rule, RuleTable, check_table

KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
SEGMENT_PRESETS = ("rfm", "value_behaviour")
LIFECYCLE_FIELDS = ("recency_days", "tenure_days", "frequency")
#: the most implied decimal places [columns] amount_decimals may give integer amounts: they
#: are summed in exact 1/10,000 units (ingest.AMOUNT_DIGITS)
MAX_AMOUNT_DECIMALS = 4
#: the largest quality.max_abs_amount: amounts are summed as int64 1/10,000 units, so a row
#: of this size is 1e16 units (a run also checks rows × bound per customer:
#: ingest.check_exact_sums)
MAX_ABS_AMOUNT_LIMIT = 1e12
#: the longest lookback window: years 1..9999 (a window from a given as_of that reaches
#: before the year 1 is refused when as_of is known, ingest.window_start)
MAX_WINDOW_DAYS = (date(9999, 12, 31) - date(1, 1, 1)).days
#: what a scored customer can have: days ≥ 0, at least one purchase (SPEC §2); days are
#: also at most MAX_WINDOW_DAYS (the calendar's span), which _beyond_the_calendar checks
#: apart (a bound in the domain would refuse [0, 99999999], a range that can match)
LIFECYCLE_DOMAIN = ((0, None), (0, None), (1, None))
OPTIONAL_COLUMNS = ("order_id", "channel", "category")
#: the bounds a rule's range may have: the rule kernels compare int64 values
INT64_MIN, INT64_MAX = -2**63, 2**63 - 1


@dataclass(frozen=True)
class ColumnMap:
    """Input column names. Optional columns are used when present; ``explicit`` lists the
    optional ones the user named, which must then exist. ``amount_decimals``: the implied
    decimal places of an integer amount (2: integer cents; 0: currency units)."""

    customer_id: str = "customer_id"
    order_ts: str = "order_ts"
    amount: str = "amount"
    order_id: str = "order_id"
    channel: str = "channel"
    category: str = "category"
    explicit: tuple[str, ...] = ()
    amount_decimals: int = 0


@dataclass(frozen=True)
class Tier:
    """A value tier: by rank (``top_share`` of customers by monetary) or by ``min_monetary``."""

    key: str
    name: str
    top_share: float | None = None
    min_monetary: float | None = None


@dataclass(frozen=True)
class ValueTierConfig:
    method: str  # "rank" or "thresholds"
    tiers: tuple[Tier, ...]


@dataclass(frozen=True)
class RunConfig:
    """Everything that decides a run's result, apart from the input data."""

    columns: ColumnMap = field(default_factory=ColumnMap)
    bins: int = 5
    window_days: int | None = None
    max_abs_amount: float = 10_000_000.0
    segments: RuleTable | None = None
    value_tier: ValueTierConfig | None = None
    lifecycle: RuleTable | None = None
    clustering: ClusterSettings = field(default_factory=ClusterSettings)

    def to_dict(self) -> dict:
        """JSON-safe form (model.json, config hash). ``columns.amount_decimals`` only when
        set (> 0): a config without it keeps the hash it had before the key existed."""
        columns = asdict(self.columns)
        if not columns["amount_decimals"]:
            del columns["amount_decimals"]
        return {
            "columns": columns,
            "bins": self.bins,
            "window_days": self.window_days,
            "max_abs_amount": self.max_abs_amount,
            "segments": self.segments.to_dict(),
            "value_tier": {"method": self.value_tier.method,
                           "tiers": [asdict(t) for t in self.value_tier.tiers]},
            "lifecycle": self.lifecycle.to_dict(),
            "clustering": asdict(self.clustering),
        }

    def config_hash(self) -> str:
        """sha256 of the canonical JSON of :meth:`to_dict`."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


def _read_toml_text(text: str, source: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}") from None
    except RecursionError:  # tomllib parses nested arrays and tables by recursion
        raise ConfigError(f"{source}: invalid TOML: arrays or tables nested too "
                          "deeply") from None


def _preset(name: str) -> dict:
    text = resources.files("segscore.presets").joinpath(f"{name}.toml").read_text("utf-8")
    return _read_toml_text(text, f"preset {name}")


def _merge(base: dict, over: dict) -> dict:
    """``over`` laid over ``base``: tables merge key by key, anything else replaces."""
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return out


def _only(table: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(unknown)}; "
                          f"allowed: {', '.join(sorted(allowed))}")


#: control characters a display text may not hold (tab, line feed and carriage return may):
#: an HTML page cannot show them (a NUL becomes U+FFFD) and a terminal may act on them
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _text(value: Any, where: str) -> str:
    """A name or action: a string without control characters (ConfigError otherwise)."""
    text = _typed(value, (str,), where)
    bad = _CONTROL.search(text)
    if bad:
        raise ConfigError(f"{where}: control character U+{ord(bad.group()):04X} in {text!r}; "
                          "names and actions are display text")
    return text


def _typed(value: Any, kinds: tuple[type, ...], where: str) -> Any:
    if isinstance(value, bool) and bool not in kinds:
        raise ConfigError(f"{where}: expected {'/'.join(k.__name__ for k in kinds)}, got {value!r}")
    if not isinstance(value, kinds):
        raise ConfigError(f"{where}: expected {'/'.join(k.__name__ for k in kinds)}, got {value!r}")
    return value


def _number(value: Any, where: str) -> float:
    """An int or float config value as a float; ConfigError for an integer too large for a
    float64 (TOML integers have no limit: 1e400 written as digits)."""
    try:
        return float(_typed(value, (int, float), where))
    except OverflowError:
        raise ConfigError(f"{where}: an integer of {len(str(abs(value)))} digits is too large "
                          "(a float64 holds at most about 1.8e308)") from None


def _key(value: Any, where: str) -> str:
    _typed(value, (str,), where)
    if not KEY_PATTERN.match(value):
        raise ConfigError(f"{where}: key {value!r} must be a snake_case slug "
                          "(a-z, 0-9, _; starting with a letter; at most 63 characters)")
    return value


def _range(value: Any, where: str) -> tuple[int | None, int | None]:
    """[lo, hi] or {min = lo, max = hi} → inclusive (lo, hi), None where open."""
    if isinstance(value, list):
        if len(value) != 2:
            raise ConfigError(f"{where}: a range is [lo, hi], got {value!r}")
        lo, hi = value
    elif isinstance(value, dict):
        _only(value, {"min", "max"}, where)
        lo, hi = value.get("min"), value.get("max")
    else:
        raise ConfigError(f"{where}: a range is [lo, hi] or {{ min = .., max = .. }}, got {value!r}")
    for bound in (lo, hi):
        if bound is not None and not INT64_MIN <= _typed(bound, (int,), where) <= INT64_MAX:
            raise ConfigError(f"{where}: bound {bound} is outside the 64-bit integer range "
                              f"{INT64_MIN}..{INT64_MAX}; leave a bound out for no limit")
    return lo, hi


def _rule_table(raw: list, name: str, fields: tuple[str, ...],
                domain: tuple[tuple[int, int | None], ...], where: str,
                ordered: tuple[tuple[str, str], ...] = ()) -> RuleTable:
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: expected an array of tables ([[...]])")
    rules = []
    for i, item in enumerate(raw):
        at = f"{where}[{i}]"
        _typed(item, (dict,), at)
        _only(item, {"key", "name", "action", *fields}, at)
        if "key" not in item:
            raise ConfigError(f"{at}: missing 'key'")
        key = _key(item["key"], f"{at}.key")
        ranges = tuple((f, *_range(item[f], f"{at}.{f}")) for f in fields if f in item)
        rules.append(Rule(key=key, name=_text(item.get("name", key), f"{at}.name"),
                          action=_text(item.get("action", ""), f"{at}.action"),
                          ranges=ranges))
    table = RuleTable(name=name, fields=fields, domain=domain, rules=tuple(rules),
                      ordered=ordered)
    check_table(table, where)
    return table


def _segments(raw: dict, bins: int, source: str, flags: str) -> RuleTable:
    """The segment table. ``flags`` names the CLI flags that set bins or the table, "" when
    neither did; they are blamed for a table that fits 9 bins but not ``bins``."""
    where = f"{source}: segments"
    _only(raw, {"preset", "rules"}, where)
    if "rules" in raw and "preset" in raw:
        raise ConfigError(f"{where}: give either preset or rules, not both")
    if "rules" in raw:
        rules, name = raw["rules"], "custom"
    else:
        name = _typed(raw.get("preset", "rfm"), (str,), f"{where}.preset")
        if name not in SEGMENT_PRESETS:
            raise ConfigError(f"{where}.preset: unknown preset {name!r}; "
                              f"built-in: {', '.join(SEGMENT_PRESETS)}")
        preset = _preset(name)
        if bins != preset["bins"]:
            raise ConfigError(f"{flags or where}: scoring.bins is {bins}, but the built-in preset "
                              f"{name!r} is written for {preset['bins']} bins; with {bins} bins "
                              "give your own [[segments.rules]] (scores 1.."
                              f"{bins}) instead of a preset")
        rules = preset["rules"]

    def table(q: int) -> RuleTable:
        return _rule_table(rules, name, ("r", "f", "m"), ((1, q),) * 3, f"{source}: segments.rules")

    try:
        return table(bins)
    except ConfigError as exc:
        if flags:
            table(9)  # an error of the table itself is not the flags'
            raise ConfigError(f"{flags}: {exc}") from None
        raise


def _value_tier(raw: dict, where: str) -> ValueTierConfig:
    _only(raw, {"method", "tiers"}, where)
    method = _typed(raw.get("method", "rank"), (str,), f"{where}.method")
    if method not in ("rank", "thresholds"):
        raise ConfigError(f"{where}.method: expected 'rank' or 'thresholds', got {method!r}")
    raw_tiers = raw.get("tiers", [])
    if not isinstance(raw_tiers, list) or len(raw_tiers) < 2:
        raise ConfigError(f"{where}.tiers: give at least two tiers")
    bound = "top_share" if method == "rank" else "min_monetary"
    tiers = []
    for i, item in enumerate(raw_tiers):
        at = f"{where}.tiers[{i}]"
        _typed(item, (dict,), at)
        _only(item, {"key", "name", bound}, at)
        key = _key(item.get("key"), f"{at}.key")
        last = i == len(raw_tiers) - 1
        if last and bound in item:
            raise ConfigError(f"{at}: the last tier is the catch-all and takes no {bound}")
        if not last and bound not in item:
            raise ConfigError(f"{at}: missing {bound} (only the last tier is the catch-all)")
        value = None if last else _number(item[bound], f"{at}.{bound}")
        if value is not None and not math.isfinite(value):
            raise ConfigError(f"{at}.{bound}: expected a finite number, got {value}")
        tiers.append(Tier(key=key, name=_text(item.get("name", key), f"{at}.name"),
                          **{bound: value}))
    values = [getattr(t, bound) for t in tiers[:-1]]
    if len({t.key for t in tiers}) != len(tiers):
        raise ConfigError(f"{where}.tiers: duplicate keys")
    if method == "rank":
        if any(not 0 < v < 1 for v in values) or sum(values) >= 1:
            raise ConfigError(f"{where}.tiers: each top_share must be in (0, 1) and together "
                              f"below 1 (the last tier takes the rest), got {values}")
    elif any(a <= b for a, b in zip(values, values[1:])):
        raise ConfigError(f"{where}.tiers: min_monetary must strictly decrease, got {values}")
    return ValueTierConfig(method=method, tiers=tuple(tiers))


def _clustering(raw: dict, given: set[str], where: str, k_flag: str | None) -> ClusterSettings:
    """``raw``: [clustering] over the defaults; ``given``: the keys the user set; ``k_flag``:
    the flag that set k, if one did (k_min..k_max then do not have to hold it)."""
    _only(raw, {"enabled", "k", "k_min", "k_max", "random_state", "features"}, where)
    k_where = f"{k_flag}: clustering.k" if k_flag else f"{where}.k"
    k = raw.get("k", "auto")
    enabled = _typed(raw.get("enabled", True), (bool,), f"{where}.enabled")
    k_min = _typed(raw.get("k_min", 3), (int,), f"{where}.k_min")
    k_max = _typed(raw.get("k_max", 10), (int,), f"{where}.k_max")
    for name, value in (("k_min", k_min), ("k_max", k_max)):
        if not 2 <= value <= MAX_K:
            raise ConfigError(f"{where}.{name}: expected an integer in 2..{MAX_K}, got {value}")
    if k_min > k_max:
        shown = [f"{n} = {v}" + ("" if n in given else " (the default)")
                 for n, v in (("k_min", k_min), ("k_max", k_max))]
        raise ConfigError(f"{where}: {shown[0]} is above {shown[1]}; need k_min <= k_max")
    if k == "off":
        if enabled and "enabled" in given:
            raise ConfigError(f"{where}: k = 'off' contradicts enabled = true; keep one of them")
        k, enabled = "auto", False
    elif k != "auto":
        if isinstance(k, bool) or not isinstance(k, int) or not 2 <= k <= 64:
            raise ConfigError(f"{k_where}: expected 'auto', 'off' or an integer in 2..64, "
                              f"got {k!r}")
        if not enabled and not k_flag and {"k", "enabled"} <= given:
            raise ConfigError(f"{where}: k = {k} contradicts enabled = false; keep one of them")
        if not k_flag and {"k_min", "k_max"} & given and not k_min <= k <= k_max:
            raise ConfigError(f"{where}: k = {k} is outside k_min..k_max = {k_min}..{k_max}; "
                              "k_min and k_max only bound k = 'auto': drop them or let them "
                              "hold k")
    features = tuple(_typed(f, (str,), f"{where}.features") for f in _typed(
        raw.get("features", ClusterSettings.features), (list, tuple), f"{where}.features"))
    unknown = unknown_features(features)
    if unknown:
        raise ConfigError(f"{where}.features: unknown feature(s) {', '.join(map(repr, unknown))}; "
                          f"allowed: {', '.join(FEATURES)}, share_<channel> (a channel's "
                          "spend-share column, e.g. share_web, or share_other) and "
                          "attr:<column> (a column of the --customers attributes file)")
    try:
        return ClusterSettings(
            enabled=enabled,
            k=None if k == "auto" else k,
            k_min=k_min,
            k_max=k_max,
            random_state=_typed(raw.get("random_state", 0), (int,), f"{where}.random_state"),
            features=features,
        )
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _beyond_the_calendar(table: RuleTable, where: str) -> RuleTable:
    """``table``, or ConfigError for a rule that needs more days than years 1..9999 hold
    (a recency or tenure minimum above MAX_WINDOW_DAYS): no customer can match it (SPEC §4)."""
    for i, rule in enumerate(table.rules):
        for metric, lo, _ in rule.ranges:
            if metric.endswith("_days") and lo is not None and lo > MAX_WINDOW_DAYS:
                raise ConfigError(f"{where}[{i}] ({rule.key}) can never match: {metric} ≥ {lo}, "
                                  f"but no customer has more than {MAX_WINDOW_DAYS:,} days "
                                  "(the calendar's span)")
    return table


def _columns(raw: dict, where: str) -> ColumnMap:
    """The column map of a [columns] table laid over the defaults. An optional role set to ""
    is not read. Two roles naming one column are refused (order_id = "customer_id" made every
    frequency 1): the message names both, and ``= ""`` for an optional role the user did not
    set, whose default name another role took. ``amount_decimals`` (not a column name):
    0..MAX_AMOUNT_DECIMALS."""
    names = {"customer_id", "order_ts", "amount", *OPTIONAL_COLUMNS}
    _only(raw, names | {"amount_decimals"}, where)
    decimals = _typed(raw.get("amount_decimals", 0), (int,), f"{where}.amount_decimals")
    if not 0 <= decimals <= MAX_AMOUNT_DECIMALS:
        raise ConfigError(f"{where}.amount_decimals: expected an integer in "
                          f"0..{MAX_AMOUNT_DECIMALS} (the implied decimal places of an integer "
                          f"amount; amounts are summed in exact 1/10,000 units), got {decimals}")
    values = {k: _typed(v, (str,), f"{where}.{k}") for k, v in raw.items()
              if k != "amount_decimals"}
    for k, v in values.items():
        if not v and k not in OPTIONAL_COLUMNS:
            raise ConfigError(f"{where}.{k}: column name is empty")
    explicit = tuple(sorted(k for k in OPTIONAL_COLUMNS if values.get(k)))
    columns = ColumnMap(**values, explicit=explicit, amount_decimals=decimals)
    taken: dict[str, str] = {}
    for role in ("customer_id", "order_ts", "amount", *OPTIONAL_COLUMNS):
        name = getattr(columns, role)
        if not name:
            continue
        if name in taken:
            hint = (f"; set {role} = \"\" to read no {role}" if role in OPTIONAL_COLUMNS
                    and role not in raw else "")
            raise ConfigError(f"{where}: {taken[name]} and {role} both name the column "
                              f"'{name}'; each role needs its own column{hint}")
        taken[name] = role
    return columns


def build_config(user: dict, source: str = "config", flags: dict[str, str] | None = None
                 ) -> RunConfig:
    """Validate a user config dict (as parsed from TOML) laid over the built-in defaults.

    ``flags`` maps the keys a CLI flag set ("scoring.bins", "scoring.window_days",
    "segments", "clustering.k") to that flag as typed ("--bins 3"): errors they cause name it.
    """
    flags = flags or {}

    def at(key: str) -> str:
        return f"{flags.get(key, source)}: {key}"

    _typed(user, (dict,), source)
    _only(user, {"columns", "scoring", "quality", "segments", "value_tier", "lifecycle",
                 "clustering"}, source)
    for section, value in user.items():
        _typed(value, (dict,), f"{source}: [{section}]")
    defaults = _preset("defaults")
    user_columns = user.get("columns", {})
    raw = _merge(defaults, {k: v for k, v in user.items() if k != "columns"})
    # Lists replace (not merge): a user's [[value_tier.tiers]] replaces the default tiers.
    user_tiers = user.get("value_tier", {})
    if ("method" in user_tiers and "tiers" not in user_tiers
            and user_tiers["method"] == "thresholds"):
        raise ConfigError(f"{source}: value_tier: method = {user_tiers['method']!r} needs its "
                          "own [[value_tier.tiers]] (the default tiers are rank tiers, by "
                          "top_share)")
    scoring = raw["scoring"]
    _only(scoring, {"bins", "window_days"}, f"{source}: [scoring]")
    bins = _typed(scoring.get("bins", 5), (int,), at("scoring.bins"))
    if not 2 <= bins <= 9:
        raise ConfigError(f"{at('scoring.bins')} must be in 2..9 (one digit per score), got {bins}")
    window = scoring.get("window_days")
    if window is not None and not (
            1 <= _typed(window, (int,), at("scoring.window_days")) <= MAX_WINDOW_DAYS):
        raise ConfigError(f"{at('scoring.window_days')} must be a positive number of days, at "
                          f"most {MAX_WINDOW_DAYS:,} (the calendar's span), got {window}")
    quality = raw["quality"]
    _only(quality, {"max_abs_amount"}, f"{source}: [quality]")
    bound = _number(quality["max_abs_amount"], f"{source}: quality.max_abs_amount")
    if not 0 < bound <= MAX_ABS_AMOUNT_LIMIT:
        raise ConfigError(f"{source}: quality.max_abs_amount must be positive and at most "
                          f"{MAX_ABS_AMOUNT_LIMIT:,.0f}, got {bound:g}")
    lifecycle = raw["lifecycle"]
    _only(lifecycle, {"rules"}, f"{source}: [lifecycle]")
    columns = (_columns({**defaults["columns"], **user_columns}, f"{source}: [columns]")
               if user_columns else ColumnMap())
    clustering = _clustering(raw["clustering"], set(user.get("clustering", {})),
                             f"{source}: clustering", flags.get("clustering.k"))
    if clustering.enabled:  # a feature from a column the config says not to read
        for role, needs in (("channel", "share_"), ("category", "distinct_categories")):
            used = [f for f in clustering.features if f.startswith(needs)]
            if used and not getattr(columns, role):
                raise ConfigError(f"{source}: clustering.features {used[0]!r} needs the "
                                  f"{role} column, but [columns] {role} = \"\" reads none")
    return RunConfig(
        columns=columns,
        bins=bins,
        window_days=window,
        max_abs_amount=bound,
        segments=_segments(user.get("segments", defaults["segments"]), bins, source,
                           " ".join(flags[k] for k in ("scoring.bins", "segments") if k in flags)),
        value_tier=_value_tier(raw["value_tier"], f"{source}: value_tier"),
        lifecycle=_beyond_the_calendar(
            _rule_table(lifecycle["rules"], "lifecycle", LIFECYCLE_FIELDS, LIFECYCLE_DOMAIN,
                        f"{source}: lifecycle.rules", ordered=(("recency_days", "tenure_days"),)),
            f"{source}: lifecycle.rules"),
        clustering=clustering,
    )


def load_config(path: Path | str | None = None, overrides: dict | None = None,
                flags: dict[str, str] | None = None) -> RunConfig:
    """Load ``path`` (TOML) or the defaults, then apply ``overrides`` (same shape as TOML;
    an override's [segments] replaces the file's whole segment table). ``flags``: see
    :func:`build_config`."""
    user: dict = {}
    source = "defaults"
    if path is not None:
        p = Path(path)
        try:
            text = read_text(p, "utf-8-sig")  # a byte-order mark (Windows editors) is skipped
        except OSError as exc:
            raise ConfigError(f"{p}: cannot read config: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{p}: config is not UTF-8 text") from None
        user = _read_toml_text(text, str(p))
        source = str(p)
    if overrides:
        user = _merge({k: v for k, v in user.items()
                       if not (k == "segments" and "segments" in overrides)}, overrides)
    return build_config(user, source, flags)


def columns_only(path: Path | str | None) -> RunConfig:
    """The defaults with only the [columns] table of the config file ``path`` (validate's
    fallback when the rest of the file is invalid: its files are still checked under their
    mapped column names, not reported as lacking the default ones); the plain defaults when
    that table cannot be read or is invalid too."""
    if path is not None:
        try:
            user = _read_toml_text(read_text(path, "utf-8-sig"), str(path))
            if isinstance(user.get("columns"), dict):
                return build_config({"columns": user["columns"]}, str(path))
        except (OSError, UnicodeDecodeError, ConfigError):
            pass
    return build_config({})


def parse_as_of(value: str | date | datetime | None) -> datetime | None:
    """``as_of`` as a naive UTC datetime; a date means the end of that day (SPEC §1). An
    aware datetime (or a timestamp with an offset) is converted to UTC; a naive one is UTC."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return _naive_utc(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, 23, 59, 59, 999999)
    text = value.strip()
    try:  # every date-only ISO form (2026-06-30, 20260630, 2026-W26-2, ...) is a whole day
        return parse_as_of(date.fromisoformat(text))
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text)
        # digits beyond the microsecond (which fromisoformat drops) round up, as they do in
        # the data (ingest), so a row at exactly as_of is never after it
        if _SUB_MICROSECOND.search(text):
            parsed += timedelta(microseconds=1)
    except ValueError:
        raise ConfigError(f"--as-of: {value!r} is not an ISO date (2026-06-30) "
                          "or timestamp (2026-06-30T18:00:00)") from None
    except OverflowError:
        raise ConfigError(f"--as-of: {value!r} is outside the years 1..9999") from None
    return _naive_utc(parsed)


#: a fraction of a second with a non-zero digit after the sixth
_SUB_MICROSECOND = re.compile(r"[.,]\d{6}0*[1-9]")


def _naive_utc(moment: datetime) -> datetime:
    """``moment`` as a naive UTC datetime (naive ones are taken as UTC already)."""
    if moment.tzinfo is None:
        return moment
    try:
        return moment.astimezone(timezone.utc).replace(tzinfo=None)
    except OverflowError:  # e.g. 9999-12-31T23:00-05:00
        raise ConfigError(f"--as-of: {moment.isoformat()} is outside the years 1..9999 in "
                          "UTC") from None
