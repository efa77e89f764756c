"""benchmarks/data.py: the scale and out-of-core benchmarks generate their data in a child
process, because a child's ru_maxrss (their peak-RSS measure) starts at the parent's peak."""

from benchmarks import data


def test_dataset_is_generated_in_a_child(tmp_path, monkeypatch):
    import segscore_datasets

    def in_this_process(*a, **k):
        raise AssertionError("generated in the benchmark's own process")

    monkeypatch.setattr(segscore_datasets, "generate_transactions", in_this_process)
    out = data.dataset_in_child(300, cache=tmp_path)
    assert out == tmp_path / "300" and sorted((out / "transactions").glob("*.parquet"))
    assert data.dataset_in_child(300, cache=tmp_path) == out  # cached: no second child
    assert data.dataset(300, cache=tmp_path) == out

