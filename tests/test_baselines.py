"""The benchmark baselines (issue 5, part 1) compute segscore's features on the same data, and
their scores agree where their tie rules coincide with SPEC §3 (benchmarks/baselines)."""

import polars as pl
import pytest

import segscore
from benchmarks.baselines import agreement, feature_agreement
from segscore_datasets import generate_transactions

COLS = ["customer_id", "recency_days", "frequency", "monetary", "r_score", "f_score", "m_score"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    gen = generate_transactions(tmp_path_factory.mktemp("baselines"), 3000, seed=2)
    src = gen.out_dir / "transactions"
    return src, segscore.run(src).customers.select(COLS)


@pytest.mark.parametrize("engine", ["pandas", "polars", "duckdb"])
def test_baseline_features_equal_segscore_and_scores_agree(data, engine):
    import importlib

    src, seg = data
    mod = importlib.import_module(f"benchmarks.baselines.{engine}_baseline")
    out = mod.run(src, cluster=engine != "duckdb")  # pandas / polars also fit their K-means
    if not isinstance(out, pl.DataFrame):
        out = pl.from_pandas(out[COLS + ["cluster"]])
    feats = feature_agreement(seg, out)
    assert feats == {"recency_days": 1.0, "frequency": 1.0, "monetary": 1.0}
    scores = agreement(seg, out)
    assert scores["customers_baseline"] == scores["customers_segscore"] == scores["joined"]
    if engine != "duckdb":  # qcut's edges are segscore's cut points where they are unique
        assert scores["m"] == 1.0
    assert all(0.5 < scores[s] <= 1.0 for s in ("r", "f", "m"))
    if engine != "duckdb":
        assert out["cluster"].n_unique() == 8
