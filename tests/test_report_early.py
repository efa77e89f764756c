"""The report's optional sections start right after scoring when the memory budget allows:
same report and migration.parquet as at the report stage, and a run that fails meanwhile
waits for them and leaves nothing behind."""

from __future__ import annotations

import json
import threading

import numba
import polars as pl
import pytest

import segscore
import segscore.pipeline as pipeline
from segscore.errors import InputError
from segscore.memory import ReportInputs, downstream_bytes, early_sections_fit
from segscore_datasets import generate_transactions
from threads import track_section_overlap


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Transactions (files), last night's output and an attributes file."""
    root = tmp_path_factory.mktemp("early")
    gen = generate_transactions(root / "data", 2000, seed=3)
    files = sorted(gen.files)
    segscore.run(files, root / "prev", as_of="2026-03-31")
    return {"root": root, "files": files, "prev": root / "prev",
            "attrs": gen.attributes_path}


def _run(inputs, out, **kw):
    return segscore.run(inputs["files"], out, previous=inputs["prev"],
                        attributes=inputs["attrs"], **kw)


def _comparable(report: dict) -> dict:
    return {k: v for k, v in report.items() if k not in ("performance", "generated_at",
                                                          "run_id")}


def _sections_threads() -> list[str]:
    return [t.name for t in threading.enumerate()
            if t.name.startswith("report-section")]


def test_sections_start_after_scoring(inputs, tmp_path, monkeypatch):
    events = []

    def record(name, fn):
        def wrapped(*a, **k):
            events.append(name)
            return fn(*a, **k)
        return wrapped

    for name, attr in (("row pass", "gather"),
                       ("scoring", "_score_and_label"), ("sections", "OptionalSections"),
                       ("clustering", "fit_assign_clusters"), ("output", "_write")):
        monkeypatch.setattr(pipeline, attr, record(name, getattr(pipeline, attr)))
    res = _run(inputs, tmp_path / "o")
    assert events == ["row pass", "scoring", "sections", "clustering", "output"]
    assert res.manifest["memory"]["report_sections_started"] == "after scoring"
    assert res.report["attributes"]["matched"] > 0
    assert res.report["migration"]["segments"]["stayed"] > 0
    assert (tmp_path / "o" / "migration.parquet").is_file()
    assert not _sections_threads()


@pytest.mark.parametrize("early", [True, False])
def test_sections_started_early_run_one_after_another(inputs, tmp_path, monkeypatch, early):
    """Started after scoring, the two sections share one thread (the cluster and write
    stages keep the cores busy); at the report stage, with the budget holding both, they
    run side by side. The manifest says which."""
    state = track_section_overlap(monkeypatch, 0.1)
    if not early:
        monkeypatch.setattr(pipeline, "early_sections_fit", lambda *a: False)
    res = _run(inputs, tmp_path / "o")
    memory = res.manifest["memory"]
    assert memory["report_sections_started"] == ("after scoring" if early
                                                 else "at the report stage")
    assert state["most"] == (1 if early else 2)
    assert memory["report_sections"] == ("one after another" if early else "side by side")


def test_early_and_late_sections_give_the_same_outputs(inputs, tmp_path, monkeypatch):
    early = _run(inputs, tmp_path / "early")
    monkeypatch.setattr(pipeline, "early_sections_fit", lambda *a: False)
    late = _run(inputs, tmp_path / "late")
    assert late.manifest["memory"]["report_sections_started"] == "at the report stage"
    assert early.customers.equals(late.customers)  # clustered on one thread, then on all
    assert _comparable(early.report) == _comparable(late.report)
    assert pl.read_parquet(tmp_path / "early" / "migration.parquet").equals(
        pl.read_parquet(tmp_path / "late" / "migration.parquet"))
    on_disk = json.loads((tmp_path / "early" / "report" / "report.json").read_text("utf-8"))
    assert on_disk["migration"] == early.report["migration"]


@pytest.mark.parametrize("early", [True, False])
def test_clustering_on_one_thread_while_the_sections_run(inputs, tmp_path, monkeypatch, early):
    """numba's OpenMP workers spin between the clustering's kernels on the cores the
    sections need: the clustering runs on one thread while they run, on all otherwise."""
    threads = []
    fit = pipeline.fit_assign_clusters

    def recording(*a, **k):
        threads.append(numba.get_num_threads())
        return fit(*a, **k)

    monkeypatch.setattr(pipeline, "fit_assign_clusters", recording)
    monkeypatch.setattr(pipeline, "early_sections_fit", lambda *a: early)
    before = numba.get_num_threads()
    _run(inputs, tmp_path / "o")
    assert threads == [1 if early else before]
    assert numba.get_num_threads() == before


def test_budget_decides_the_early_start():
    report = ReportInputs(attribute_rows=2_000_000, attribute_row_bytes=45.0,
                          previous_customers=1_000_000)
    sections = sum(report.section_bytes())
    assert sections == 2_000_000 * (45 + 12) + 1_000_000 * 90
    n = 1_000_000
    need = downstream_bytes(n, 4) + sections
    assert early_sections_fit(n, 4, need, report)
    assert not early_sections_fit(n, 4, need - 1, report)
    assert not early_sections_fit(n, 8, need, report)  # more channel columns, more memory
    assert early_sections_fit(n, 4, None, report)


def test_failed_run_waits_for_the_sections_and_keeps_last_nights_output(inputs, tmp_path,
                                                                        monkeypatch):
    """The clustering fails while the migration section still runs (held 0.3 s): the run
    waits for it before removing its temporary directory, into which it writes."""
    import time

    import segscore.report.sections as sections

    out = tmp_path / "o"
    first = _run(inputs, out)

    def fail(*a, **k):
        raise RuntimeError("clustering broke")

    def slow(*a):
        time.sleep(0.3)
        return migration(*a)

    migration = sections._migration
    monkeypatch.setattr(sections, "_migration", slow)
    monkeypatch.setattr(pipeline, "fit_assign_clusters", fail)
    with pytest.raises(RuntimeError, match="clustering broke"):
        _run(inputs, out, overwrite=True)
    assert not _sections_threads()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o"]  # no temporary directory
    manifest = json.loads((out / "manifest.json").read_text("utf-8"))
    assert manifest["run_id"] == first.manifest["run_id"]
    assert (out / "migration.parquet").is_file()


@pytest.mark.parametrize("done_before_writing", [True, False])
def test_bad_attributes_fail_the_run_cleanly(inputs, tmp_path, monkeypatch,
                                             done_before_writing):
    """A section started early that fails (duplicate ids) fails the run with the file's error
    and nothing written: before the write stage when it has failed by then (the clustering
    waits for it here), else at the report stage (the section held 0.5 s); both times as a
    failed report stage."""
    import concurrent.futures
    import time

    import segscore.report.sections as sections

    attrs = pl.read_parquet(inputs["attrs"])
    bad = tmp_path / "dup.parquet"
    pl.concat([attrs, attrs.head(3)]).write_parquet(bad)
    started, stages = [], []
    make_sections, cluster, breakdowns = (pipeline.OptionalSections,
                                          pipeline.fit_assign_clusters,
                                          sections.attribute_breakdowns)

    def keep(*a, **k):
        started.append(make_sections(*a, **k))
        return started[-1]

    def wait_then_cluster(*a, **k):
        concurrent.futures.wait([started[0]._attributes])
        return cluster(*a, **k)

    def slow(*a):
        time.sleep(0.5)
        return breakdowns(*a)

    monkeypatch.setattr(pipeline, "OptionalSections", keep)
    if done_before_writing:
        monkeypatch.setattr(pipeline, "fit_assign_clusters", wait_then_cluster)
    else:
        monkeypatch.setattr(sections, "attribute_breakdowns", slow)
    with pytest.raises(InputError, match=r"dup\.parquet.*duplicate"):
        segscore.run(inputs["files"], tmp_path / "o", previous=inputs["prev"], attributes=bad,
                     on_stage=lambda name, event: stages.append((name, event)))
    assert (("write", "start") in stages) is not done_before_writing
    # reported as the report's failure either way (the CLI prints "stage 'report' failed")
    assert stages[-1] == ("report", "failed")
    assert not (tmp_path / "o").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dup.parquet"]
    assert not _sections_threads()
