"""benchmarks/RESULTS.md is generated (benchmarks/scale.py) from results/<n>.json and the
hand-written results/diagnosis.md: the committed file must be what a rebuild writes, or the
next `python -m benchmarks.scale` run silently drops whatever was edited in RESULTS.md only."""

from benchmarks import scale


def test_committed_results_md_is_what_a_rebuild_writes():
    assert scale.render_results() == (scale.HERE / "RESULTS.md").read_text()
