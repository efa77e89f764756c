"""model.json: everything needed to re-apply a run's scoring without refitting (SPEC §5)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from segscore import jsontext
from segscore.clusters import ClusterModel
from segscore.config import RunConfig, build_config
from segscore.errors import InputError
from segscore.features import ChannelColumns
from segscore.regular import read_text

MODEL_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class FrozenModel:
    """Fitted state of a run: R/F/M cut points, tier bounds, the cluster model and, read
    from a model.json, its share columns (channel_columns: which channel each names)."""

    cuts: dict[str, np.ndarray]
    tier_bounds: np.ndarray
    clusters: ClusterModel | None
    channels: ChannelColumns | None = None


def model_dict(config: RunConfig, frozen: FrozenModel, extra: dict) -> dict:
    """The JSON-safe model.json content."""
    return {
        "schema_version": MODEL_SCHEMA_VERSION,
        "producer": "segscore",
        "bins": config.bins,
        "cut_points": {k: [float(v) for v in c] for k, c in frozen.cuts.items()},
        "value_tier_bounds": [float(v) for v in frozen.tier_bounds],
        "config": config.to_dict(),
        "config_hash": config.config_hash(),
        "clusters": frozen.clusters.to_dict() if frozen.clusters is not None else None,
        **extra,
    }


def _object(value, where: str) -> dict:
    """``value`` when it is a JSON object; ValueError naming the field ``where`` otherwise
    (a hand-edited model with a number there was an internal error, AttributeError)."""
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be an object, got {value!r}"[:300])
    return value


def _floats(value, where: str) -> np.ndarray:
    """``value`` as a float64 array; ValueError naming the field ``where`` for an integer
    too large for a float64 (JSON integers have no limit)."""
    try:
        return np.asarray(value, dtype=np.float64)
    except OverflowError:
        raise ValueError(f"{where} must hold finite numbers, got {value!r}"[:300]) from None


def _ranges(rule: dict, where: str) -> dict:
    return {f: {k: v for k, v in (("min", lo), ("max", hi)) if v is not None}
            for f, (lo, hi) in _object(rule["ranges"], f"{where}.ranges").items()}


def _clustering(cfg: dict) -> dict:
    """A model's clustering options as a [clustering] table (k None is 'auto'). k_min/k_max
    are left out when they do not hold a fixed k (a k set by --k): they only bound 'auto'."""
    k, lo, hi = cfg["k"], cfg["k_min"], cfg["k_max"]
    bounds = k is None or (isinstance(k, int) and lo <= k <= hi)
    keys = ("enabled", "random_state", "features") + (("k_min", "k_max") if bounds else ())
    return {**{name: cfg[name] for name in keys}, "k": "auto" if k is None else k}


def _read(p: Path) -> dict:
    d = jsontext.loads(read_text(p, "utf-8"))
    if not isinstance(d, dict) or d.get("producer") != "segscore" or \
            d.get("schema_version") != MODEL_SCHEMA_VERSION:
        raise ValueError("not a segscore model.json of a supported version")
    return d


def _fixed(d: dict) -> dict[str, tuple[tuple, str]]:
    """What a model fixes that a flag could also set: flag -> (the flag values that agree
    with it, the model's value in words)."""
    k = d["config"]["clustering"]["k"]
    if d["clusters"] is not None and not isinstance(d["clusters"], dict):
        raise ValueError(f"clusters must be an object or null, got {d['clusters']!r}")
    clusters = d["clusters"]["k"] if d["clusters"] is not None else None
    name = d["config"]["segments"]["name"]
    if clusters is None:
        k_agrees, k_words = ("off",), "no clusters"
    elif k is None:
        k_agrees, k_words = ("auto", str(clusters)), f"{clusters} clusters (K chosen by 'auto')"
    else:  # the k it was asked for agrees too (fewer distinct rows may have cut it)
        k_agrees, k_words = (str(clusters), str(k)), f"{clusters} clusters"
    return {"--bins": ((d["bins"],), f"{d['bins']} bins"),
            "--segments": ((name,), f"segment table {name!r}"),
            "--k": (k_agrees, k_words)}


def _unusable(p: Path, exc: Exception) -> InputError:
    """The InputError for a model.json that cannot be read or lacks a field."""
    if isinstance(exc, KeyError):  # a bare KeyError prints as just the key
        return InputError(f"{p}: cannot use as --model: no field {exc} (is it a segscore "
                          "model.json?)")
    return InputError(f"{p}: cannot use as --model: {exc}")


def flag_conflicts(path: Path | str, given: dict[str, object]) -> list[str]:
    """One message per flag in ``given`` ("--bins": 6, "--segments": "rfm", "--k": "4"; None
    when not given) whose value differs from what the model at ``path`` fixes (a flag that
    agrees is harmless); InputError when the model cannot be read."""
    p = Path(path)
    try:
        fixed = _fixed(_read(p))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise _unusable(p, exc) from None
    return [f"{flag} {value}: --model {p} has {fixed[flag][1]}, and a frozen model fixes the "
            "bins and cut points, the segment table and the clusters; drop "
            f"{flag}, or leave out --model to refit"
            for flag, value in given.items() if value is not None and value not in fixed[flag][0]]


def check_flags(path: Path | str, given: dict[str, object]) -> None:
    """InputError for the first of :func:`flag_conflicts` (a run refuses it up front)."""
    conflicts = flag_conflicts(path, given)
    if conflicts:
        raise InputError(conflicts[0])


def cluster_features(config: RunConfig, frozen: FrozenModel | None, config_path=None,
                     model_path=None) -> tuple[tuple[str, ...], str]:
    """(the features tonight's clustering uses, how messages name that list: the file and
    key): the frozen model's (read from ``model_path``) when it has clusters, else the
    config's (loaded from ``config_path``, when from a file); () when clustering is off."""
    if frozen is not None and frozen.clusters is not None:
        return frozen.clusters.features, f"{model_path or 'model.json'}: clusters.features"
    if frozen is None and config.clustering.enabled:
        return config.clustering.features, ("clustering.features" if config_path is None
                                            else f"{config_path}: clustering.features")
    return (), ""


def check_model_channels(names: tuple[str, ...], channels: ChannelColumns,
                         purchased: set[str], where: str) -> None:
    """InputError when a cluster feature in ``names`` (named by ``where``) is the share column
    of a model channel that no purchase tonight has (``purchased``: the channel values with
    purchase spend): the frozen clusters would read 0 for every customer, as when the
    channel's values were renamed upstream."""
    for name, value in zip(channels.names, channels.values):
        if name in names and value not in purchased:
            raise InputError(f"{where}: {name!r} is the share of channel {value!r} "
                             "(channel_columns), and no purchase tonight has that channel: the "
                             "frozen clusters would read 0 for every customer; check the "
                             "input's channel values, or leave out --model to refit")


def load_model(path: Path | str, current: RunConfig) -> tuple[RunConfig, FrozenModel]:
    """Read a model.json: the rule tables (and the segment table's name), bins, clustering
    options and share columns (each channel keeps its column name) come from the model;
    columns, window and quality bounds stay those of ``current`` (they describe tonight's
    input).
    """
    p = Path(path)
    try:
        d = _read(p)
        cfg = d["config"]
        user = {
            "scoring": {"bins": d["bins"]},
            "segments": {"rules": [{"key": r["key"], "name": r["name"], "action": r["action"],
                                    **_ranges(r, f"config.segments.rules[{i}]")}
                                   for i, r in enumerate(cfg["segments"]["rules"])]},
            "value_tier": {"method": cfg["value_tier"]["method"],
                           "tiers": [{k: v for k, v in _object(
                               t, f"config.value_tier.tiers[{i}]").items() if v is not None}
                                     for i, t in enumerate(cfg["value_tier"]["tiers"])]},
            "lifecycle": {"rules": [{"key": r["key"], "name": r["name"], "action": r["action"],
                                     **_ranges(r, f"config.lifecycle.rules[{i}]")}
                                    for i, r in enumerate(cfg["lifecycle"]["rules"])]},
            "clustering": _clustering(cfg["clustering"]),
        }
        model_cfg = build_config(user, str(p))
        name = cfg["segments"]["name"]
        if not isinstance(name, str):
            raise ValueError(f"config.segments.name must be a string, got {name!r}")
        frozen = FrozenModel(
            cuts={k: _floats(v, f"cut_points.{k}")
                  for k, v in _object(d["cut_points"], "cut_points").items()},
            tier_bounds=_floats(d["value_tier_bounds"], "value_tier_bounds"),
            clusters=(ClusterModel.from_dict(d["clusters"]) if d["clusters"] is not None
                      else None),
            channels=ChannelColumns.from_dict(d["channel_columns"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise _unusable(p, exc) from None
    for field, values in (("cut_points", d["cut_points"]),
                          ("value_tier_bounds", d["value_tier_bounds"])):
        flat = values.values() if isinstance(values, dict) else [values]
        if not all(isinstance(v, list) and all(type(x) in (int, float) for x in v)
                   for v in flat):  # numpy would take True and "1" too
            raise InputError(f"{p}: {field} must hold lists of numbers, got {values!r}"[:300])
    for k in ("r", "f", "m"):
        cuts = frozen.cuts.get(k)
        if cuts is None or cuts.shape != (model_cfg.bins - 1,):
            raise InputError(f"{p}: cut_points.{k} must hold {model_cfg.bins - 1} values")
        if not np.isfinite(cuts).all() or (np.diff(cuts) < 0).any():
            raise InputError(f"{p}: cut_points.{k} must be finite and ascending, got "
                             f"{cuts.tolist()}")
    bounds, n_tiers = frozen.tier_bounds, len(model_cfg.value_tier.tiers)
    if bounds.shape != (n_tiers - 1,) or not np.isfinite(bounds).all() or (
            np.diff(bounds) > 0).any():
        raise InputError(f"{p}: value_tier_bounds must hold {n_tiers - 1} finite, descending "
                         f"values (one per tier but the last), got {bounds.tolist()}")
    tiers = model_cfg.value_tier
    if tiers.method == "thresholds" and bounds.tolist() != [t.min_monetary
                                                            for t in tiers.tiers[:-1]]:
        raise InputError(f"{p}: value_tier_bounds {bounds.tolist()} differ from the thresholds "
                         "of its config.value_tier.tiers (min_monetary); a threshold model's "
                         "bounds are its thresholds")
    if frozen.clusters is not None and \
            tuple(frozen.clusters.features) != tuple(model_cfg.clustering.features):
        raise InputError(f"{p}: clusters.features {list(frozen.clusters.features)} differ from "
                         f"config.clustering.features {list(model_cfg.clustering.features)}")
    if (frozen.clusters is not None) != model_cfg.clustering.enabled:
        raise InputError(f"{p}: config.clustering.enabled is "
                         f"{str(model_cfg.clustering.enabled).lower()} but clusters is "
                         f"{'set' if frozen.clusters is not None else 'null'}; a frozen model "
                         "has clusters exactly when its clustering is on")
    merged = RunConfig(columns=current.columns, bins=model_cfg.bins,
                       window_days=current.window_days, max_abs_amount=current.max_abs_amount,
                       segments=replace(model_cfg.segments, name=name), value_tier=model_cfg.value_tier,
                       lifecycle=model_cfg.lifecycle, clustering=model_cfg.clustering)
    return merged, frozen
