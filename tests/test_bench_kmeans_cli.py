"""The command line of benchmarks/bench_kmeans.py (positional numbers, no argparse): --help
prints the usage instead of a ValueError traceback. No benchmark is run."""

import pytest

from benchmarks import bench_kmeans as bk


@pytest.fixture
def calls(monkeypatch):
    seen = []
    monkeypatch.setattr(bk, "compare", lambda *a, **k: seen.append((a, k)) or [])
    return seen


def test_help_prints_usage_and_runs_nothing(calls, capsys):
    assert bk.main(["--help"]) is None
    assert bk.main(["-h"]) is None
    out = capsys.readouterr().out
    assert out.startswith("usage: python benchmarks/bench_kmeans.py [n_rows] [seeds]")
    assert "RESULTS_kmeans.md" in out
    assert calls == []


def test_bad_argument_exits_with_usage(calls):
    for argv in (["10M"], ["1", "2", "3", "0", "9"]):
        with pytest.raises(SystemExit) as e:
            bk.main(argv)
        assert str(e.value).startswith("usage:")
    assert calls == []


def test_positional_arguments(calls):
    bk.main([])
    bk.main(["10000000", "5", "900"])
    bk.main(["20000", "2", "60", "0"])
    assert calls == [((10_000_000, 3, 300.0), {"minibatch": True}),
                     ((10_000_000, 5, 900.0), {"minibatch": True}),
                     ((20_000, 2, 60.0), {"minibatch": False})]
