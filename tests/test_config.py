"""Config and rule tables: presets valid, bad tables rejected before any data is read."""

import itertools
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segscore.config import build_config, load_config, parse_as_of
from segscore.errors import ConfigError
from segscore.segments import assign_lifecycle, segment_lookup

import naive


def test_default_rfm_table_is_spec_order_and_every_rule_owns_a_cell():
    cfg = load_config()
    assert cfg.segments.keys == ("champions", "loyal_customers", "new_customers", "promising",
                                 "potential_loyalist", "need_attention", "about_to_sleep",
                                 "cant_lose_them", "at_risk", "lost", "others")
    lut = segment_lookup(cfg.segments, 5)
    assert set(lut.ravel()) == set(range(11))


# SPEC §4's default RFM segment table, copied from the SPEC text: key, name, R, F, M ranges
SPEC_RFM_TABLE = [
    ("champions", "Champions", (4, 5), (4, 5), (4, 5)),
    ("loyal_customers", "Loyal Customers", (2, 5), (3, 5), (3, 5)),
    ("new_customers", "New Customers", (4, 5), (1, 1), (1, 1)),
    ("promising", "Promising", (3, 4), (1, 1), (1, 1)),
    ("potential_loyalist", "Potential Loyalist", (3, 5), (1, 3), (1, 3)),
    ("need_attention", "Need Attention", (2, 3), (2, 3), (2, 3)),
    ("about_to_sleep", "About To Sleep", (2, 3), (1, 2), (1, 2)),
    ("cant_lose_them", "Can't Lose Them", (1, 1), (4, 5), (4, 5)),
    ("at_risk", "At Risk", (1, 2), (2, 5), (2, 5)),
    ("lost", "Lost", (1, 2), (1, 2), (1, 2)),
]


def test_default_rfm_table_is_the_spec_table_cell_by_cell():
    """The default table's rules are SPEC §4's rows (names and inclusive ranges), and every
    one of the 125 score cells gets the SPEC's first matching row, Others where none."""
    cfg = load_config()
    got = [(r.key, r.name, *(r.bounds(f) for f in ("r", "f", "m")))
           for r in cfg.segments.rules[:-1]]
    assert got == SPEC_RFM_TABLE
    last = cfg.segments.rules[-1]
    assert (last.key, last.name, last.is_catch_all) == ("others", "Others", True)
    lut = segment_lookup(cfg.segments, 5)
    for r, f, m in itertools.product(range(1, 6), repeat=3):
        want = next((key for key, _, rr, fr, mr in SPEC_RFM_TABLE
                     if rr[0] <= r <= rr[1] and fr[0] <= f <= fr[1] and mr[0] <= m <= mr[1]),
                    "others")
        assert cfg.segments.keys[lut[r - 1, f - 1, m - 1]] == want, (r, f, m)


def test_default_lifecycle_is_the_spec_rule_at_every_boundary():
    """SPEC §4: new tenure ≤ 90 d; else churned recency > 365 d; else dormant recency >
    180 d; else mature tenure > 365 d and frequency ≥ 4; else growing — on every
    combination of values around those bounds (recency ≤ tenure, as for any customer)."""
    from segscore.segments import assign_lifecycle

    def spec(recency, tenure, frequency):
        if tenure <= 90:
            return "new"
        if recency > 365:
            return "churned"
        if recency > 180:
            return "dormant"
        if tenure > 365 and frequency >= 4:
            return "mature"
        return "growing"

    days = [0, 89, 90, 91, 179, 180, 181, 364, 365, 366, 367, 5000]
    rows = [(r, t, f) for r in days for t in days for f in (1, 3, 4, 5) if r <= t]
    rec, ten, freq = (np.array(col, dtype=np.int64) for col in zip(*rows))
    table = load_config().lifecycle
    got = assign_lifecycle(rec, ten, freq, table)
    assert [table.keys[i] for i in got] == [spec(*row) for row in rows]


@pytest.mark.parametrize("preset", ["rfm", "value_behaviour"])
def test_lookup_equals_naive_first_match(preset):
    cfg = build_config({"segments": {"preset": preset}})
    rules = [{f: (lo, hi) for f, lo, hi in r.ranges} for r in cfg.segments.rules]
    lut = segment_lookup(cfg.segments, 5)
    for r, f, m in itertools.product(range(1, 6), repeat=3):
        assert lut[r - 1, f - 1, m - 1] == naive.first_match(rules, {"r": r, "f": f, "m": m})


def test_spec_example_code_545_is_champion_and_111_lost():
    lut = segment_lookup(load_config().segments, 5)
    keys = load_config().segments.keys
    assert keys[lut[4, 3, 4]] == "champions"
    assert keys[lut[0, 0, 0]] == "lost"


@pytest.mark.parametrize("rules, message", [
    ([{"key": "a", "r": [1, 5]}, {"key": "b", "r": [2, 3]}, {"key": "o"}],
     r"\(b\) can never match: .* taken first by a"),
    ([{"key": "a", "r": [1, 6]}, {"key": "o"}], r"outside 1\.\.5"),
    ([{"key": "a", "r": [0, 5]}, {"key": "o"}], r"r range 0\.\.5 is outside 1\.\.5"),
    ([{"key": "a", "m": [-2, 3]}, {"key": "o"}], r"m range -2\.\.3 is outside 1\.\.5"),
    # an open bound is written as the domain's is (it printed "6..None", "None..0")
    ([{"key": "a", "m": {"min": 6}}, {"key": "o"}], r"m range 6\.\.∞ is outside 1\.\.5$"),
    ([{"key": "a", "f": {"max": 0}}, {"key": "o"}], r"f range -∞\.\.0 is outside 1\.\.5$"),
    ([{"key": "a", "r": [3, 2]}, {"key": "o"}], r"is empty"),
    ([{"key": "a", "r": [1, 2]}], r"must end in a catch-all"),
    ([{"key": "a", "x": [1, 2]}, {"key": "o"}], r"unknown field\(s\) x"),
    ([{"key": "Bad Key!", "r": [1, 2]}, {"key": "o"}], r"snake_case slug"),
    ([{"key": "a", "r": [1, 2]}, {"key": "a"}], r"duplicate key"),
    ([{"key": "o"}, {"key": "p"}], r"\(p\) can never match"),
])
def test_bad_segment_tables_are_rejected(rules, message):
    with pytest.raises(ConfigError, match=message):
        build_config({"segments": {"rules": rules}})


def test_rule_hidden_by_union_of_earlier_rules_is_named():
    rules = [{"key": "low", "r": [1, 2]}, {"key": "high", "r": [3, 5]},
             {"key": "mid", "r": [2, 4]}, {"key": "o"}]
    with pytest.raises(ConfigError, match=r"\(mid\) can never match: .*high, low"):
        build_config({"segments": {"rules": rules}})


def test_lifecycle_hidden_rule_and_gap_rejected():
    hidden = [{"key": "a", "recency_days": {"min": 10}}, {"key": "b", "recency_days": {"min": 20}},
              {"key": "o"}]
    with pytest.raises(ConfigError, match=r"lifecycle.rules\[1\] \(b\) can never match"):
        build_config({"lifecycle": {"rules": hidden}})
    with pytest.raises(ConfigError, match="catch-all"):
        build_config({"lifecycle": {"rules": [{"key": "a", "frequency": {"max": 3}}]}})


@pytest.mark.parametrize("rule, message", [
    # a scored customer has at least one purchase (SPEC §2)
    ({"key": "never_bought", "frequency": [0, 0]}, r"frequency range 0..0 is outside 1..∞"),
    # a range that starts below the domain is refused even when it also covers valid values
    ({"key": "few", "frequency": [0, 3]}, r"frequency range 0..3 is outside 1..∞"),
    ({"key": "fresh", "recency_days": [-1, 30]}, r"recency_days range -1..30 is outside 0..∞"),
    # the first purchase is never after the last: tenure ≥ recency
    ({"key": "impossible", "tenure_days": {"max": 5}, "recency_days": {"min": 10}},
     r"\(impossible\) can never match: it covers only cases no customer has "
     r"\(recency_days ≤ tenure_days"),
])
def test_lifecycle_rule_no_scored_customer_can_match_is_rejected(rule, message):
    with pytest.raises(ConfigError, match=message):
        build_config({"lifecycle": {"rules": [rule, {"key": "o"}]}})


def test_lifecycle_rule_possible_for_some_customers_is_accepted():
    # tenure ≤ 5 and recency ≥ 3: customers with recency 3..5 and tenure ≥ recency
    rule = {"key": "young_quiet", "tenure_days": {"max": 5}, "recency_days": {"min": 3}}
    build_config({"lifecycle": {"rules": [rule, {"key": "o"}]}})
    # recency ≥ 5 hides a later "tenure ≤ 5" rule only where recency ≤ tenure holds:
    # tenure ≤ 5 with recency ≤ 4 is still the second rule's
    rules = [{"key": "a", "recency_days": {"min": 5}}, {"key": "b", "tenure_days": {"max": 5}},
             {"key": "o"}]
    build_config({"lifecycle": {"rules": rules}})
    hidden = [{"key": "a", "recency_days": {"max": 5}}, {"key": "b", "tenure_days": {"max": 5}},
              {"key": "o"}]  # tenure ≤ 5 forces recency ≤ 5: all of b is a's
    with pytest.raises(ConfigError, match=r"\(b\) can never match: .* taken first by a"):
        build_config({"lifecycle": {"rules": hidden}})


_BOUND = st.one_of(st.none(), st.integers(0, 6))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(_BOUND, _BOUND, _BOUND, _BOUND, st.one_of(st.none(), st.integers(1, 6)),
                          _BOUND), min_size=1, max_size=4))
def test_lifecycle_table_check_equals_brute_force_over_possible_customers(boxes):
    """A lifecycle table is accepted exactly when every rule is the first match of some
    customer a scored customer can be (recency ≤ tenure, frequency ≥ 1), by brute force over
    values 0..8 (every bound is ≤ 6, so larger values behave like 7)."""
    rules = []
    for i, (r_lo, r_hi, t_lo, t_hi, f_lo, f_hi) in enumerate(boxes):
        rule = {"key": f"k{i}"}
        for name, lo, hi in (("recency_days", r_lo, r_hi), ("tenure_days", t_lo, t_hi),
                             ("frequency", f_lo, f_hi)):
            if lo is not None or hi is not None:
                rule[name] = {k: v for k, v in (("min", lo), ("max", hi)) if v is not None}
        rules.append(rule)
    rules.append({"key": "o"})

    def inside(rule, name, v):
        b = rule.get(name, {})
        return b.get("min", v) <= v <= b.get("max", v)

    first = set()
    for r, t, f in itertools.product(range(9), range(9), range(1, 9)):
        if r <= t:
            first.add(next(x["key"] for x in rules if all(
                inside(x, n, v) for n, v in (("recency_days", r), ("tenure_days", t),
                                             ("frequency", f)))))
    broken = any(b.get("min", 0) > b.get("max", 99)
                 or (n == "frequency" and (b.get("min", 1) < 1 or b.get("max", 1) < 1))
                 for x in rules for n, b in x.items() if n != "key")
    expected = not broken and first == {x["key"] for x in rules}
    try:
        build_config({"lifecycle": {"rules": rules}})
        accepted = True
    except ConfigError:
        accepted = False
    assert accepted == expected


_WIDE = st.one_of(st.none(), st.integers(0, 400), st.integers(2**62, 2**65),
                  st.sampled_from([-2**63 - 1, -1, 3_652_058, 2**63 - 1, 2**63]))


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.lists(st.tuples(_WIDE, _WIDE, _WIDE, _WIDE, _WIDE, _WIDE), min_size=1, max_size=3))
def test_an_accepted_lifecycle_table_applies_whatever_its_bounds(boxes):
    """TOML integers have no limit: a table the config accepts is one the rule kernel can
    apply (a bound beyond int64 was accepted, then an OverflowError when applied); any other
    is a ConfigError, never another exception."""
    rules = [{"key": f"k{i}", **{name: {k: v for k, v in (("min", lo), ("max", hi))
                                        if v is not None}
                                 for name, lo, hi in (("recency_days", *box[0:2]),
                                                      ("tenure_days", *box[2:4]),
                                                      ("frequency", *box[4:6]))}}
             for i, box in enumerate(boxes)] + [{"key": "o"}]
    try:
        table = build_config({"lifecycle": {"rules": rules}}).lifecycle
    except ConfigError:
        return
    days = np.array([0, 5, 3_652_058], dtype=np.int64)
    out = assign_lifecycle(days, days, np.array([1, 2, 2**62], dtype=np.int64), table)
    assert ((0 <= out) & (out < len(rules))).all()


@pytest.mark.parametrize("text", [
    "[clustering]\nfeatures = " + "[" * 50_000 + "]" * 50_000,
    "[quality]\nmax_abs_amount = {" + "a = {" * 3_000 + "}" * 3_001,
])
def test_toml_nested_too_deeply_is_invalid_toml(tmp_path, text):
    """Arrays or inline tables nested deeper than tomllib recurses: a ConfigError naming the
    file (it was a RecursionError, an internal error); found by fuzzing."""
    path = tmp_path / "deep.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"deep\.toml: invalid TOML: arrays or tables nested "
                                          r"too deeply"):
        load_config(path)


@pytest.mark.parametrize("user, message", [
    ({"scoring": {"bins": 12}}, "bins must be in 2..9"),
    ({"scoring": {"bins": "5"}}, "expected int"),
    ({"scoring": {"window_days": 0}}, "positive"),
    ({"nonsense": {}}, r"unknown field\(s\) nonsense"),
    ({"columns": {"customer_id": ""}}, "empty"),
    ({"value_tier": {"tiers": [{"key": "a", "top_share": 0.7}, {"key": "b", "top_share": 0.5},
                               {"key": "c"}]}}, "below 1"),
    ({"value_tier": {"method": "thresholds", "tiers": [{"key": "a", "min_monetary": 10},
                                                       {"key": "b", "min_monetary": 20},
                                                       {"key": "c"}]}}, "strictly decrease"),
    ({"clustering": {"k": 1}}, "2..64"),
    ({"segments": {"preset": "nope"}}, "unknown preset"),
    ({"scoring": {"bins": 3}, "segments": {"rules": [{"key": "a", "r": [4, 5]}, {"key": "o"}]}},
     r"outside 1\.\.3"),
    # TOML integers have no limit: a lifecycle bound beyond int64 passed the checks and was
    # an internal error (OverflowError) when the rules were applied; a number beyond float64
    # one as soon as the config was read
    ({"lifecycle": {"rules": [{"key": "a", "frequency": {"min": 10**20}}, {"key": "b"}]}},
     r"lifecycle.rules\[0\].frequency: bound 100000000000000000000 is outside the 64-bit"),
    ({"lifecycle": {"rules": [{"key": "a", "tenure_days": [0, 2**63]}, {"key": "b"}]}},
     r"lifecycle.rules\[0\].tenure_days: bound 9223372036854775808 is outside the 64-bit"),
    ({"value_tier": {"method": "thresholds", "tiers": [{"key": "a", "min_monetary": 10**400},
                                                       {"key": "b"}]}},
     r"value_tier.tiers\[0\].min_monetary: an integer of 401 digits is too large"),
    ({"quality": {"max_abs_amount": -10**400}},
     r"quality.max_abs_amount: an integer of 401 digits is too large"),
])
def test_bad_options_are_rejected(user, message):
    with pytest.raises(ConfigError, match=message):
        build_config(user)


@pytest.mark.parametrize("preset", ["rfm", "value_behaviour"])
@pytest.mark.parametrize("bins", [2, 3, 4, 6, 7, 8, 9])
def test_builtin_presets_refuse_other_bin_counts(preset, bins):
    message = (rf"scoring.bins is {bins}, but the built-in preset '{preset}' is written for 5 "
               rf"bins; .* own \[\[segments.rules\]\] \(scores 1..{bins}\)")
    with pytest.raises(ConfigError, match=message):
        build_config({"scoring": {"bins": bins}, "segments": {"preset": preset}})
    if preset == "rfm":  # the default table too
        with pytest.raises(ConfigError, match=message):
            build_config({"scoring": {"bins": bins}})


def test_own_segment_table_works_with_any_bin_count():
    rules = [{"key": "top", "r": [9, 9], "f": [9, 9], "m": [9, 9]}, {"key": "rest"}]
    cfg = build_config({"scoring": {"bins": 9}, "segments": {"rules": rules}})
    assert cfg.bins == 9 and cfg.segments.keys == ("top", "rest")


@pytest.mark.parametrize("features", [["nope"], ["monetary", "rfm_code"], ["Share_Web"],
                                      ["first_purchase_at"]])
def test_unknown_cluster_features_are_rejected_naming_key_value_and_allowed(features):
    with pytest.raises(ConfigError, match=rf"clustering.features: unknown feature\(s\) "
                                          rf"'{features[-1]}'; allowed: recency_days, .*share_"):
        build_config({"clustering": {"features": features}})
    with pytest.raises(ConfigError, match="clustering.features: expected list"):
        build_config({"clustering": {"features": "monetary"}})


def test_known_and_share_cluster_features_pass_the_config_check():
    features = ["monetary", "r_score", "distinct_categories", "share_web", "share_other"]
    cfg = build_config({"clustering": {"features": features}})
    assert cfg.clustering.features == tuple(features)


RULES_4_5 = '[[segments.rules]]\nkey = "top"\nr = [4, 5]\n\n[[segments.rules]]\nkey = "rest"\n'


def test_override_segments_replace_the_files_table(tmp_path):
    p = tmp_path / "rules.toml"
    p.write_text(RULES_4_5)
    assert load_config(p).segments.keys == ("top", "rest")
    cfg = load_config(p, {"segments": {"preset": "value_behaviour"}})
    assert cfg.segments.name == "value_behaviour" and cfg.segments.keys[0] == "high_value_loyal"


def test_errors_caused_by_flags_name_the_flag_and_others_do_not(tmp_path):
    p = tmp_path / "rules.toml"
    p.write_text(RULES_4_5)
    with pytest.raises(ConfigError, match=rf"^--bins 3: {p}: segments.rules\[0\] \(top\): r range "
                                          r"4..5 is outside 1..3$"):
        load_config(p, {"scoring": {"bins": 3}}, {"scoring.bins": "--bins 3"})
    with pytest.raises(ConfigError, match=r"^--bins 7 --segments rfm: scoring.bins is 7, but "):
        load_config(p, {"scoring": {"bins": 7}, "segments": {"preset": "rfm"}},
                    {"scoring.bins": "--bins 7", "segments": "--segments rfm"})
    with pytest.raises(ConfigError, match=r"^--k 1: clustering.k: expected 'auto'"):
        load_config(None, {"clustering": {"k": 1}}, {"clustering.k": "--k 1"})
    p.write_text(RULES_4_5.replace('"rest"', '"top"'))  # the file's own error: not the flag's
    with pytest.raises(ConfigError, match=rf"^{p}: segments.rules\[1\] \(top\): duplicate key"):
        load_config(p, {"scoring": {"bins": 6}}, {"scoring.bins": "--bins 6"})


def test_k_off_in_toml_turns_clustering_off(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('[clustering]\nk = "off"\n')
    cfg = load_config(p).clustering
    assert cfg.enabled is False and cfg.k is None
    assert build_config({"clustering": {"k": "off", "enabled": False}}).clustering.enabled is False
    with pytest.raises(ConfigError, match=r"clustering: k = 'off' contradicts enabled = true"):
        build_config({"clustering": {"k": "off", "enabled": True}})
    with pytest.raises(ConfigError, match=r"clustering.k: expected 'auto', 'off' or an integer "
                                          r"in 2..64, got 'none'"):
        build_config({"clustering": {"k": "none"}})
    # a number k beside enabled = false is the same contradiction (it was silently off)
    with pytest.raises(ConfigError, match=r"clustering: k = 6 contradicts enabled = false"):
        build_config({"clustering": {"k": 6, "enabled": False}})
    # the flag --k N replaces both, as --k off does
    flagged = build_config({"clustering": {"k": 6, "enabled": True}},
                           flags={"clustering.k": "--k 6"})
    assert flagged.clustering.enabled and flagged.clustering.k == 6


@pytest.mark.parametrize("bounds, message", [
    ({"k_min": 1}, r"clustering\.k_min: expected an integer in 2\.\.64, got 1$"),
    ({"k_max": 65}, r"clustering\.k_max: expected an integer in 2\.\.64, got 65$"),
    ({"k_min": 8, "k_max": 5}, r"clustering: k_min = 8 is above k_max = 5; need k_min <= k_max$"),
    ({"k_min": 12}, r"clustering: k_min = 12 is above k_max = 10 \(the default\); need"),
    ({"k_max": 2}, r"clustering: k_min = 3 \(the default\) is above k_max = 2; need"),
])
def test_k_min_k_max_out_of_order_or_range_name_the_key_and_value(tmp_path, bounds, message):
    """A bad k_min / k_max names the key (or both, with their values, and which is the
    default) in the file, as the other config messages do; it was "clustering: need 2 <=
    k_min <= k_max <= 64, got 12..10", naming neither."""
    cfg = tmp_path / "c.toml"
    cfg.write_text("[clustering]\n" + "".join(f"{k} = {v}\n" for k, v in bounds.items()))
    with pytest.raises(ConfigError, match=f"^{re.escape(str(cfg))}: {message}"):
        load_config(cfg)


@pytest.mark.parametrize("bounds", [{"k_min": 8}, {"k_max": 5}, {"k_min": 7, "k_max": 9}])
def test_fixed_k_outside_the_files_k_min_k_max_is_refused(tmp_path, bounds):
    with pytest.raises(ConfigError, match=r"^config: clustering: k = 6 is outside k_min..k_max"):
        build_config({"clustering": {"k": 6, **bounds}})
    p = tmp_path / "c.toml"
    p.write_text("[clustering]\nk = 6\n" + "".join(f"{k} = {v}\n" for k, v in bounds.items()))
    assert load_config(p, {"clustering": {"k": "auto"}}).clustering.k is None
    # --k replaces the file's K choice; the file's bounds only bind 'auto'
    cfg = load_config(p, {"clustering": {"k": 12}}, {"clustering.k": "--k 12"}).clustering
    assert cfg.k == 12


def test_fixed_k_inside_or_without_bounds_is_accepted():
    assert build_config({"clustering": {"k": 6, "k_min": 4, "k_max": 8}}).clustering.k == 6
    assert build_config({"clustering": {"k": 12}}).clustering.k == 12  # default bounds unused


def test_toml_file_errors_name_the_file(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text("[scoring\nbins = 5\n")
    with pytest.raises(ConfigError, match=f"{p}: invalid TOML"):
        load_config(p)
    p.write_text("[scoring]\nbins = __import__('os').system('echo hi')\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(p)
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "missing.toml")


def test_columns_mapping_and_config_hash_changes():
    a = build_config({"columns": {"customer_id": "member_no", "channel": "store_type"}})
    assert a.columns.customer_id == "member_no" and a.columns.explicit == ("channel",)
    assert a.config_hash() != build_config({}).config_hash()
    assert build_config({}).config_hash() == load_config().config_hash()


@pytest.mark.parametrize("text, day", [
    ("2026-06-30", "2026-06-30"), ("20260630", "2026-06-30"), (" 20260630 ", "2026-06-30"),
    ("2026-W26-2", "2026-06-23"), ("2026W262", "2026-06-23"), ("2026-W26", "2026-06-22"),
    ("2026W26", "2026-06-22"),
])
def test_every_date_only_iso_form_means_the_end_of_that_day(text, day):
    assert parse_as_of(text).isoformat() == f"{day}T23:59:59.999999"


def test_as_of_parsing():
    assert parse_as_of("2026-06-30").isoformat() == "2026-06-30T23:59:59.999999"
    assert parse_as_of("20260630T000000").isoformat() == "2026-06-30T00:00:00"
    assert parse_as_of("2026-06-30T10:00:00+02:00").isoformat() == "2026-06-30T08:00:00"
    from datetime import datetime, timedelta, timezone
    aware = datetime(2026, 6, 30, 10, tzinfo=timezone(timedelta(hours=2)))
    assert parse_as_of(aware).isoformat() == "2026-06-30T08:00:00"  # naive UTC
    assert parse_as_of(datetime(2026, 6, 30, 10)).isoformat() == "2026-06-30T10:00:00"
    for edge in ("9999-12-31T23:00:00-05:00", "0001-01-01T01:00:00+05:00"):
        with pytest.raises(ConfigError, match="outside the years 1..9999"):
            parse_as_of(edge)
    with pytest.raises(ConfigError, match="--as-of"):
        parse_as_of("30/06/2026")


def test_the_reference_config_in_the_docs_is_the_defaults(tmp_path):
    """docs/config.md's reference block, saved as a file, loads and is exactly the built-in
    defaults (it elided the lifecycle table, so it did not load as written)."""
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "config.md").read_text("utf-8")
    block = re.search(r"```toml\n(.*?)```", doc, flags=re.S).group(1)
    path = tmp_path / "reference.toml"
    path.write_text(block)
    assert load_config(path).config_hash() == load_config(None).config_hash()


def test_a_config_with_a_byte_order_mark_loads(tmp_path):
    """Windows editors may start a UTF-8 file with a byte-order mark; it was refused as
    "invalid TOML … at line 1, column 1"."""
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf[scoring]\nbins = 5\nwindow_days = 30\n")
    assert load_config(path).window_days == 30


def test_as_of_digits_beyond_the_microsecond_round_up_as_the_data_does():
    """--as-of 12:00:00.1234567 is 12:00:00.123457 (it was truncated to .123456, so a row
    at exactly that instant, rounded up when read, counted as after as_of)."""
    from datetime import datetime

    assert parse_as_of("2026-06-30T12:00:00.1234567") == datetime(2026, 6, 30, 12, 0, 0, 123457)
    assert parse_as_of("2026-06-30T12:00:00.1234560") == datetime(2026, 6, 30, 12, 0, 0, 123456)
    assert parse_as_of("2026-06-30 12:00:00,1234501+02:00") == \
        datetime(2026, 6, 30, 10, 0, 0, 123451)
    assert parse_as_of("20260630T120000.0000001") == datetime(2026, 6, 30, 12, 0, 0, 1)
    with pytest.raises(ConfigError, match="outside the years 1..9999"):
        parse_as_of("9999-12-31T23:59:59.9999999")


def test_a_lifecycle_day_bound_beyond_the_calendar_is_refused():
    """No customer can have more days than years 1..9999 hold: a rule that needs more can
    never match and is refused (SPEC §4), naming the range (it was accepted)."""
    rules = [{"key": "a", "name": "A", "recency_days": {"min": 2**63 - 1}},
             {"key": "b", "name": "B"}]
    with pytest.raises(ConfigError, match=r"lifecycle.rules\[0\] \(a\) can never match: "
                                          r"recency_days ≥ 9223372036854775807"):
        build_config({"lifecycle": {"rules": rules}})
    # an upper bound beyond the calendar is a range that can match (it was refused for a
    # while, with models written before): accepted, and the hash of the defaults is as before
    wide = [{"key": "new", "name": "New", "tenure_days": {"max": 90}},
            {"key": "any", "name": "Any", "recency_days": {"min": 0, "max": 99_999_999}},
            {"key": "rest", "name": "Rest"}]
    build_config({"lifecycle": {"rules": wide}})
    assert load_config(None).config_hash().startswith("4ee10bc036ba")


@pytest.mark.parametrize("role, feature", [("channel", "share_web"),
                                           ("category", "distinct_categories")])
def test_a_feature_from_a_column_set_not_to_be_read_is_refused(role, feature):
    """[columns] channel = "" with a share_ clustering feature: refused with the config (it
    was refused only after the row pass, as a column the input lacks); clustering off: fine."""
    user = {"columns": {role: ""}, "clustering": {"features": ["monetary", feature]}}
    with pytest.raises(ConfigError, match=f"{feature}' needs the {role} column"):
        build_config(user)
    build_config({**user, "clustering": {**user["clustering"], "enabled": False}})


@pytest.mark.parametrize("text", ["Champ\x00ions", "Reward\x1b[31m", "a\x7fb"])
def test_names_and_actions_are_display_text(text):
    """A control character in a segment name or action (TOML escapes allow "\\u0000") is
    refused naming the key: the HTML page cannot show a NUL and a terminal may act on an
    escape sequence; tab, line feed and carriage return stay allowed."""
    rules = [{"key": "all", "name": "All", "action": text}]
    with pytest.raises(ConfigError, match=r"segments.rules\[0\]\.action: control character"):
        build_config({"segments": {"rules": rules}})
    rules = [{"key": "all", "name": text}]
    with pytest.raises(ConfigError, match=r"segments.rules\[0\]\.name: control character"):
        build_config({"segments": {"rules": rules}})
    build_config({"segments": {"rules": [{"key": "all", "action": "line one\nline\ttwo\r"}]}})
