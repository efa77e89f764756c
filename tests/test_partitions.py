"""Bounded-memory row passes: P customer-hash partitions give the same result as one pass,
and the memory plan picks P from the budget (or refuses clearly)."""

import json
import shutil
from datetime import datetime
from unittest.mock import patch

import polars as pl
import pytest

import segscore
import segscore.passes as passes
from segscore import output, spill
from segscore.config import build_config
from segscore.memory import estimate_peak_bytes, partitioned_bytes, plan_memory
from segscore.schema import discover, inspect_inputs
from segscore_datasets import generate_transactions


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("p")
    return generate_transactions(root / "gen", 4000, seed=9).out_dir / "transactions"


@pytest.fixture(scope="module")
def dirty(tmp_path_factory, data):
    """``data`` with every 50th row of every file made unusable (null id, NaN amount, null
    timestamp, null amount in turn), so rejected rows fall in every file, partition and
    batch; a few of the null amounts are dated after every valid row, so the derived as_of
    re-counts them as after_as_of."""
    out = tmp_path_factory.mktemp("dirty") / "transactions"
    shutil.copytree(data, out)
    for path in sorted(out.glob("*.parquet")):
        df = pl.read_parquet(path)
        row = pl.int_range(pl.len())
        kind = row // 50 % 4
        bad = row % 50 == 0
        late = bad & (kind == 3) & (row // 200 % 3 == 0)
        df.with_columns(
            customer_id=pl.when(bad & (kind == 0)).then(None).otherwise(pl.col("customer_id")),
            amount=pl.when(bad & (kind == 1)).then(float("nan"))
            .when(bad & (kind == 3)).then(None).otherwise(pl.col("amount")),
            order_ts=pl.when(bad & (kind == 2)).then(None)
            .when(late).then(pl.datetime(2099, 1, 1)).otherwise(pl.col("order_ts")),
        ).write_parquet(path, row_group_size=500)
    return out


def _customer_bytes(out, part="customers"):
    return {p.relative_to(out): p.read_bytes() for p in sorted((out / part).rglob("*.parquet"))}


def _rejected_as_before(src, as_of, directory):
    """rejected/ as the row pass wrote it before it spilled: every rejected row in memory,
    classified with the run's as_of (what re-counting the late rows under a derived as_of
    gives), sorted by (file, row), converted at once and written a slice of ROWS_PER_PART
    rows at a time. Returns the rows."""
    from segscore.ingest import FIRST_REJECT, classify, rejected_rows, resolve_roles, scan_file

    cfg = build_config({})
    infos = inspect_inputs(discover(src), cfg.columns)
    roles = resolve_roles(infos)
    rows = pl.concat([scan_file(i, info, cfg, roles).with_row_index("source_row")
                      for i, info in enumerate(infos)])
    classified = (classify(rows, as_of, cfg, roles.id_dtype == pl.String)
                  .filter(pl.col("status") >= FIRST_REJECT).sort("file", "source_row"))
    frame = rejected_rows(classified, infos).collect()
    directory.mkdir(parents=True)
    for i, start in enumerate(range(0, max(frame.height, 1), output.ROWS_PER_PART)):
        frame.slice(start, output.ROWS_PER_PART).write_parquet(
            directory / f"part-{i:05d}.parquet", compression="snappy", statistics=True)
    return frame


@pytest.mark.parametrize("partitions,batch_rows", [(1, 997), (2, 2_000_000), (3, 997),
                                                   (3, 5000), (7, 5000)])
def test_partitioned_run_is_byte_identical_to_one_pass(dirty, tmp_path, monkeypatch,
                                                       partitions, batch_rows):
    """P partition passes and any batch size give the bytes of one pass in one batch each,
    rejected/ included: byte for byte the files the row pass wrote when it kept every
    rejected row in memory (parts of ROWS_PER_PART rows, here 70, so parts span batches
    and files; the rows spilled in several files), in input order, each row located by
    its file and row."""
    monkeypatch.setattr(output, "ROWS_PER_PART", 70)
    monkeypatch.setattr(spill, "SPILL_BUFFER_BYTES", 2_000)
    cfg = build_config({"clustering": {"k": 4}})
    one = segscore.run(dirty, tmp_path / "one", config=cfg, partitions=1)
    with patch.object(passes, "BATCH_ROWS", batch_rows):
        many = segscore.run(dirty, tmp_path / "many", config=cfg, partitions=partitions)
    assert _customer_bytes(tmp_path / "one") == _customer_bytes(tmp_path / "many")
    assert one.manifest["rows"] == many.manifest["rows"]
    assert one.manifest["inputs"] == many.manifest["inputs"]
    assert one.manifest["rows"]["after_as_of"] > 0  # late rejected rows re-counted
    assert one.unscored.equals(many.unscored)
    before = _rejected_as_before(dirty, datetime.fromisoformat(one.manifest["as_of"]),
                                 tmp_path / "before" / "rejected")
    rejected = many.rejected.collect()
    assert rejected.height == one.manifest["rows"]["rejected_total"] > 3 * 70
    assert rejected.equals(before) and one.rejected.collect().equals(before)  # order too
    for f in rejected.partition_by("source_file"):
        source = pl.read_parquet(f["source_file"][0])
        located = source[f["source_row"].to_list()]
        assert located["customer_id"].cast(pl.String).equals(f["customer_id"])
    assert (_customer_bytes(tmp_path / "one", "rejected")
            == _customer_bytes(tmp_path / "many", "rejected")
            == _customer_bytes(tmp_path / "before", "rejected"))
    assert json.loads((tmp_path / "many" / "manifest.json").read_text())["memory"]["partitions"] == partitions


def test_memory_budget_picks_partitions(data, tmp_path):
    infos = inspect_inputs(discover(data), build_config({}).columns)
    rows = sum(i.rows for i in infos)
    customers = 4000
    one = estimate_peak_bytes(infos, 1, customers)
    assert plan_memory(infos, one + 1, customers).partitions == 1
    tight = one - partitioned_bytes(infos, customers) // 2
    plan = plan_memory(infos, tight, customers)
    assert plan.partitions >= 2 and plan.estimate <= tight
    with pytest.raises(segscore.InputError,
                       match=r"tables and row batches plus the process.s fixed 0\.39 GiB"):
        plan_memory(infos, estimate_peak_bytes(infos, 10**6, customers) // 2, customers)
    assert rows > customers


def test_run_under_a_tight_budget_counts_customers_and_partitions(data, tmp_path):
    infos = inspect_inputs(discover(data), build_config({}).columns)
    budget = estimate_peak_bytes(infos, 3, customers=4000)
    r = segscore.run(data, tmp_path / "o", config=build_config({"clustering": {"enabled": False}}),
                     memory_limit_bytes=budget)
    assert r.manifest["memory"]["partitions"] >= 3
    assert r.manifest["rows"]["balanced"]


@pytest.mark.parametrize("n_channels,refused", [(4, False), (20, True)])
def test_budget_is_checked_again_with_the_channel_columns(tmp_path, n_channels, refused):
    """The plan assumes 4 channel columns; after the row pass, with 20 channel values (16
    columns + share_other) the per-customer tables need 13 × 16 B more per customer: a
    budget between the two estimates is refused before anything is written, and last
    night's output stays."""
    import numpy as np

    from segscore.memory import downstream_bytes

    n = 3000
    rng = np.random.default_rng(5)
    src = tmp_path / "t.parquet"
    pl.DataFrame({
        "customer_id": np.arange(n).repeat(2),
        "order_ts": pl.datetime_range(pl.datetime(2026, 1, 1), pl.datetime(2026, 3, 1),
                                      "10m", eager=True).head(2 * n),
        "amount": rng.random(2 * n) * 100 + 1,
        "channel": [f"ch{i % n_channels:02d}" for i in range(2 * n)],
    }).write_parquet(src)
    budget = (downstream_bytes(n, 4) + downstream_bytes(n, 17)) // 2
    cfg = build_config({"clustering": {"enabled": False}})
    out = tmp_path / "out"
    segscore.run(src, out, config=cfg)  # last night, no budget
    before = _customer_bytes(out)
    if not refused:
        segscore.run(src, out, config=cfg, partitions=2, memory_limit_bytes=budget,
                     overwrite=True)
        return
    with pytest.raises(segscore.InputError, match="after the row pass: 3,000 customers with "
                                                  "17 channel columns"):
        segscore.run(src, out, config=cfg, partitions=2, memory_limit_bytes=budget,
                     overwrite=True)
    assert _customer_bytes(out) == before


def _ids_file(path, ids, statistics=True):
    """Two purchases per customer of ``ids`` (in that order)."""

    n = len(ids)
    pl.DataFrame({
        "customer_id": [v for v in ids for _ in range(2)],
        "order_ts": pl.datetime_range(pl.datetime(2026, 1, 1), pl.datetime(2026, 3, 1),
                                      "10m", eager=True).head(2 * n),
        "amount": [5.0] * (2 * n),
    }).write_parquet(path, statistics=statistics)
    return path


@pytest.mark.parametrize("kind,refused", [("int", False), ("long", True)])
def test_budget_is_checked_again_with_the_customer_ids_bytes(tmp_path, kind, refused):
    """String ids longer than polars' 12-byte inline view keep their bytes in the tables:
    with the passes forced (no plan), a budget between the integer-id and the long-id
    estimates runs with integer ids and is refused after the row pass with long ones."""
    from segscore.memory import STRING_ID, downstream_bytes

    n = 3000
    long_ids = [f"customer-{i:030d}" for i in range(n)]  # 39 bytes
    src = _ids_file(tmp_path / "t.parquet", list(range(n)) if kind == "int" else long_ids)
    budget = (downstream_bytes(n, 4) + downstream_bytes(n, 4, STRING_ID + 39)) // 2
    cfg = build_config({"clustering": {"enabled": False}})
    out = tmp_path / "out"
    if not refused:
        segscore.run(src, out, config=cfg, partitions=2, memory_limit_bytes=budget)
        return
    with pytest.raises(segscore.InputError, match="after the row pass: 3,000 customers with "
                                                  r"0 channel columns and string ids \(71 B"):
        segscore.run(src, out, config=cfg, partitions=2, memory_limit_bytes=budget)
    assert not out.exists()


def _run_and_validate_agree(tmp_path, args: list[str], budget: int,
                            refusal: str | None) -> None:
    """``segscore run`` (into tmp_path/out, --quiet) and ``segscore validate`` of the same
    input ``args`` under the same --memory-limit ``budget`` (bytes), in this process (so the
    caller's monkeypatches apply): both pass (``refusal`` None), or both exit 2, the run
    with nothing written and ``refusal`` in its error, validate with one problem, the run's
    message word for word."""
    from click.testing import CliRunner

    from segscore.cli import main

    limit = ["--memory-limit", repr(budget / 2**30)]
    ran = CliRunner().invoke(main, ["run", *args, "--out", str(tmp_path / "out"), "--quiet",
                                    *limit])
    said = " ".join(ran.output.split())  # (an error line may be wrapped)
    checked = CliRunner().invoke(main, ["validate", *args, *limit])
    if refusal is None:
        assert ran.exit_code == 0, said
        assert checked.exit_code == 0 and "\nvalid" in checked.output, checked.output
        return
    problems = [line.removeprefix("problem: ") for line in checked.output.splitlines()
                if line.startswith("problem:")]
    assert ran.exit_code == 2 and refusal in said, said
    assert not (tmp_path / "out").exists()
    assert checked.exit_code == 2 and len(problems) == 1, checked.output
    assert refusal in problems[0] and problems[0] in said


@pytest.mark.parametrize("refused", [True, False])
def test_validate_makes_the_runs_check_after_the_row_pass(tmp_path, monkeypatch, refused):
    """Long string ids without footer statistics: the plan counts 32 B per id, the check
    after the row pass 71 B. Under a budget between the two, run passes its plan and stops
    after the row pass (exit 2); validate reads the same rows and gives the same message
    (exit 2), its rows still reconciled. Under a budget that holds them, neither refuses.
    (The row batches taken as free, so that 3,000 customers decide the plan.)"""
    from segscore import memory
    from segscore.validation import validation_report

    monkeypatch.setattr(memory, "batch_bytes", lambda *a: 0)
    n = 3000
    src = _ids_file(tmp_path / "t.parquet", [f"customer-{i:030d}" for i in range(n)],
                    statistics=False)
    planned = memory.downstream_bytes(int(n * 1.05), 4, memory.STRING_ID)
    measured = memory.downstream_bytes(n, 0, memory.STRING_ID + 39)
    budget = (planned + measured) // 2 if refused else measured + 2**20
    _run_and_validate_agree(tmp_path, [str(src), "--k", "off"], budget, None if not refused else
                            "memory budget exceeded after the row pass: 3,000 customers with 0 "
                            "channel columns and string ids (71 B per customer)")
    if not refused:
        return
    report = validation_report(src, memory_limit_bytes=budget)  # the rows still reconcile
    assert report["rows"]["used"] == 2 * n and report["memory_limit_bytes"] == budget


def _channel_file(path, n: int, channels: list[str]):
    """``n`` (up to 35,000) customers with two purchases each, 10 minutes apart,
    ``channels`` (2n values) in file order; row groups of ``n`` rows."""
    import numpy as np

    pl.DataFrame({
        "customer_id": np.arange(n).repeat(2),
        "order_ts": pl.datetime_range(pl.datetime(2026, 1, 1), pl.datetime(2027, 5, 1),
                                      "10m", eager=True).head(2 * n),
        "amount": [5.0] * (2 * n),
        "channel": channels,
    }).write_parquet(path, row_group_size=n)
    return path


def test_validate_counts_the_channel_columns_the_run_has_after_the_row_pass(tmp_path,
                                                                           monkeypatch):
    """20 channel values, all after the first row group: the plan samples one channel, the
    run finds 17 columns (16 + share_other) after its row pass and stops; validate ranks the
    used rows' channels as the run does and gives the same message."""
    from segscore import memory
    from segscore.validation import validation_report

    monkeypatch.setattr(memory, "batch_bytes", lambda *a: 0)
    n = 3000
    src = _channel_file(tmp_path / "t.parquet", n, ["ch00"] * n + [f"ch{i % 20:02d}"
                                                                  for i in range(n)])
    budget = (memory.downstream_bytes(int(n * 1.05), 4) + memory.downstream_bytes(n, 17)) // 2
    cfg = build_config({"clustering": {"enabled": False}})
    message = "after the row pass: 3,000 customers with 17 channel columns"
    with pytest.raises(segscore.InputError, match=message):
        segscore.run(src, config=cfg, memory_limit_bytes=budget)
    report = validation_report(src, cfg, memory_limit_bytes=budget)
    assert [p["message"] for p in report["problems"] if message in p["message"]] \
        and not report["ok"]


def test_validate_samples_the_channels_as_the_runs_plan_does(tmp_path, monkeypatch):
    """20 channel values in the first row group, a budget that holds 4 channel columns but
    not 17: the run's plan looks at the channels and refuses before the row pass; validate's
    plan looks too and gives the same message (it planned for 4 and said it only after
    reading every row, as the check after the row pass)."""
    from segscore import memory
    from segscore.validation import validation_report

    monkeypatch.setattr(memory, "batch_bytes", lambda *a: 0)
    n = 3000
    src = _channel_file(tmp_path / "t.parquet", n, [f"ch{i % 20:02d}" for i in range(2 * n)])
    cfg = build_config({"clustering": {"enabled": False}})
    # the count is exact here (HyperLogLog's error would move the bounds below)
    for module in ("segscore.pipeline", "segscore.validation"):
        monkeypatch.setattr(f"{module}.count_customers", lambda *a: n)
    planned = int(n * 1.02) + 1  # as plan_memory pads the count
    infos = inspect_inputs(discover(src), cfg.columns)
    # the tables fit 4 channel columns, not 17; the 6,000-row bound does not fit in one
    # pass (so the plan counts the customers)
    budget = (memory.downstream_bytes(planned, 4) + memory.downstream_bytes(planned, 17)) // 2
    assert estimate_peak_bytes(infos, 1, 2 * n, 4) > budget
    with pytest.raises(segscore.InputError) as ran:
        segscore.run(src, config=cfg, memory_limit_bytes=budget)
    assert "after the row pass" not in str(ran.value)
    report = validation_report(src, cfg, memory_limit_bytes=budget)
    assert [p["message"] for p in report["problems"]] == [str(ran.value)]


def _exact_count(monkeypatch, n: int) -> int:
    """Make run's and validate's customer counts exactly ``n`` (HyperLogLog's error would
    move budgets set between two estimates); returns the count the plan pads it to."""
    for module in ("segscore.pipeline", "segscore.validation"):
        monkeypatch.setattr(f"{module}.count_customers", lambda *a: n)
    return int(n * 1.02) + 1


@pytest.mark.parametrize("with_model", [False, True])
def test_validate_counts_a_models_channel_columns_after_the_row_pass(tmp_path, monkeypatch,
                                                                     with_model):
    """A model fitted on 16 channels has 16 share columns and no share_other; tonight has
    3 channel values, one the model lacks. With --model the run's plan counts the model's
    16 columns, and after its row pass it has 17 (share_other for the channel the model
    lacks): under a budget between the two it stops there, and validate gives the same
    message. Without --model both pass (3 columns)."""
    from segscore import memory

    monkeypatch.setattr(memory, "batch_bytes", lambda *a: 0)
    n = 3000
    fit = _channel_file(tmp_path / "fit.parquet", n, [f"ch{i % 16:02d}" for i in range(2 * n)])
    segscore.run(fit, tmp_path / "fit", config=build_config({"clustering": {"enabled": False}}),
                 report=False)
    model = tmp_path / "fit" / "model.json"
    columns = json.loads(model.read_text())["channel_columns"]
    assert len(columns["columns"]) == 16 and not columns["other"]
    src = _channel_file(tmp_path / "t.parquet", n, [("ch00", "ch01", "new")[i % 3]
                                                    for i in range(2 * n)])
    planned = _exact_count(monkeypatch, n)
    budget = (memory.downstream_bytes(planned, 16) + memory.downstream_bytes(n, 17)) // 2
    args = [str(src), *(["--model", str(model)] if with_model else ["--k", "off"])]
    _run_and_validate_agree(tmp_path, args, budget, "memory budget exceeded after the row pass: "
                            "3,000 customers with 17 channel columns" if with_model else None)


@pytest.mark.parametrize("report_input", [None, "--customers", "--previous"])
def test_validate_counts_the_report_inputs_after_the_row_pass(tmp_path, monkeypatch,
                                                              report_input):
    """The plan does not size the report's inputs; the check after the row pass does: the
    --customers rows and the --previous run's customers at the report stage. Tonight: 3,000
    customers; either input holds 30,000. Under a budget that holds tonight's tables, the run
    without them passes, and with either one it stops after the row pass; validate gives the
    same verdict and the same message."""
    from segscore import memory

    monkeypatch.setattr(memory, "batch_bytes", lambda *a: 0)
    n, others = 3000, 30_000
    if report_input == "--customers":
        path = tmp_path / "attributes.parquet"
        pl.DataFrame({"customer_id": range(others), "age": range(others)}).write_parquet(path)
    elif report_input == "--previous":
        last = _channel_file(tmp_path / "last.parquet", others, ["web"] * (2 * others))
        path = tmp_path / "last"
        segscore.run(last, path, config=build_config({"clustering": {"enabled": False}}),
                     report=False)
        assert json.loads((path / "manifest.json").read_text())["customers"]["scored"] \
            == others
    src = _channel_file(tmp_path / "t.parquet", n, ["web"] * (2 * n))
    planned = _exact_count(monkeypatch, n)
    # holds tonight's tables, not the report stage with 30,000 rows of the attributes
    # (16 B each) or the previous run's customers (memory.ReportInputs)
    budget = memory.downstream_bytes(planned, 4) + 2**16
    args = [str(src), "--k", "off", *([report_input, str(path)] if report_input else [])]
    _run_and_validate_agree(tmp_path, args, budget, report_input and (
        "memory budget exceeded after the row pass: 3,000 customers with the report's "
        "--customers / --previous inputs need about"))


def test_id_bytes_from_the_footer_and_from_the_ids(tmp_path):
    """Before the row pass every string id counts as long as the longer of the footer
    statistics' min and max (ids of one format share a length); after it, the ids' mean
    bytes outside the view."""

    from segscore.memory import (STRING_ID, STRING_INLINE, measured_id_bytes,
                                 planned_id_bytes)

    cols = build_config({}).columns
    ints = inspect_inputs([_ids_file(tmp_path / "i.parquet", [1, 2, 30])], cols)
    short = inspect_inputs([_ids_file(tmp_path / "s.parquet", ["C1", "C22", "C333"])], cols)
    long = inspect_inputs([_ids_file(tmp_path / "l.parquet", ["a" * 13, "b" * 20, "c"])], cols)
    bare = inspect_inputs([_ids_file(tmp_path / "b.parquet", ["a" * 30], statistics=False)],
                          cols)
    assert [i.id_length for i in (*ints, *short, *long, *bare)] == [0, 4, 13, 0]  # "b" * 20:
    # between the extremes; without statistics nothing is known before the row pass
    assert planned_id_bytes(ints) == 0
    assert planned_id_bytes(short) == STRING_ID
    assert planned_id_bytes(long) == STRING_ID + 13
    assert planned_id_bytes(short + long) == STRING_ID + 13
    assert planned_id_bytes(bare) == STRING_ID
    assert estimate_peak_bytes(long, 1, 10**7) > estimate_peak_bytes(short, 1, 10**7) \
        > estimate_peak_bytes(ints, 1, 10**7)
    assert measured_id_bytes(pl.Series([1, 2])) == 0
    assert measured_id_bytes(pl.Series(["a" * STRING_INLINE, "b"])) == STRING_ID
    assert measured_id_bytes(pl.Series(["a" * 13, "b" * 20, "c"])) == STRING_ID + 11
    assert measured_id_bytes(pl.Series([], dtype=pl.String)) == STRING_ID


def test_plan_looks_at_the_channels_only_when_the_most_there_can_be_would_not_fit(data):
    from segscore.memory import MAX_CHANNEL_COLUMNS, downstream_bytes

    infos = inspect_inputs(discover(data), build_config({}).columns)
    n = 10_000_000  # customers given: the per-customer tables dominate this small input
    middle = (downstream_bytes(n, 4) + downstream_bytes(n, 17)) // 2

    def never():
        raise AssertionError("channel values read although any number of them fits")

    roomy = downstream_bytes(n, MAX_CHANNEL_COLUMNS + 1) + estimate_peak_bytes(infos, 1, n)
    assert plan_memory(infos, roomy, n, channel_columns=never).partitions >= 1
    assert plan_memory(infos, middle, n, channel_columns=lambda: 4).estimate <= middle
    with pytest.raises(segscore.InputError, match="and 17 channel columns need at least"):
        plan_memory(infos, middle, n, channel_columns=lambda: 17)


@pytest.mark.parametrize("n_channels,columns", [(3, 3), (16, 16), (20, 17)])
def test_channel_columns_sampled_from_each_files_first_row_group(tmp_path, n_channels, columns):

    from segscore.ingest import resolve_roles
    from segscore.passes import sample_channel_columns

    from datetime import datetime

    for f in range(2):  # each file holds half of the channel values, in its first row group
        vals = [f"ch{i:02d}" for i in range(n_channels) if i % 2 == f]
        pl.DataFrame({"customer_id": list(range(len(vals))),
                      "order_ts": [datetime(2026, 1, 1)] * len(vals),
                      "amount": [1.0] * len(vals), "channel": vals}
                     ).write_parquet(tmp_path / f"t{f}.parquet")
    cfg = build_config({})
    infos = inspect_inputs(discover(tmp_path), cfg.columns)
    assert sample_channel_columns(infos, cfg, resolve_roles(infos)) == columns


def _fake_file(name, rows, kinds, string_bytes=0):
    from pathlib import Path

    from segscore.schema import InputFile

    return InputFile(path=Path(name), bytes=rows * 20, rows=rows, kinds=kinds,
                     string_bytes=string_bytes)


_KINDS = {"customer_id": "int", "order_ts": "timestamp", "amount": "float"}


def test_a_budget_equal_to_the_single_pass_estimate_fits_in_one_pass(data):
    """plan_memory picks the fewest passes whose estimated peak fits the budget: a budget of
    exactly the one-pass estimate fits (one byte less does not)."""
    infos = inspect_inputs(discover(data), build_config({}).columns)
    one = estimate_peak_bytes(infos, 1, 4000)
    assert plan_memory(infos, one, 4000).partitions == 1
    assert plan_memory(infos, one - 1, 4000).partitions >= 2


def test_batches_cost_the_same_whatever_the_file_size():
    """The row pass reads at most BATCH_ROWS rows of a file at a time: the batches' working
    set does not grow with a file's rows beyond that (memory.py: batches are sized by the
    largest *batch*)."""
    from segscore.memory import batch_bytes
    from segscore.passes import BATCH_ROWS

    def sized(rows):
        return [_fake_file("t.parquet", rows, dict(_KINDS, channel="string"), 6 * rows)]

    assert batch_bytes(sized(3 * BATCH_ROWS)) == batch_bytes(sized(40 * BATCH_ROWS)) \
        == batch_bytes(sized(BATCH_ROWS)) > batch_bytes(sized(BATCH_ROWS // 2))


def test_order_id_pairs_are_counted_only_for_files_with_order_ids():
    """Pair rows (the exact distinct-order count) are the rows of the files that have an
    order id column: a file without one adds no pair bytes, only its customers' tables."""
    from segscore.memory import partitioned_bytes

    keyed = _fake_file("a.parquet", 10**6, dict(_KINDS, order_id="int"))
    loose = _fake_file("b.parquet", 5 * 10**6, _KINDS)
    assert partitioned_bytes([keyed, loose], 10**5) == partitioned_bytes([keyed], 10**5)
    assert partitioned_bytes([keyed], 10**5) > partitioned_bytes([loose], 10**5)


@pytest.mark.parametrize("partitions", [1, 2, 8, 64])
def test_the_peak_estimate_is_the_larger_of_ingest_and_downstream(partitions):
    """memory.py: a run's peak is the larger of the ingest peak (which P passes shrink) and
    the downstream peak (the per-customer tables after the row pass, which they do not):
    never below the downstream estimate, and equal to it once enough passes make the
    ingest side smaller."""
    from segscore.memory import downstream_bytes

    infos = [_fake_file("t.parquet", 3 * 10**7, _KINDS)]
    n = 10**7
    peak = estimate_peak_bytes(infos, partitions, n)
    assert peak >= downstream_bytes(n)
    if partitions == 64:
        assert peak == downstream_bytes(n)


def test_ids_of_twelve_bytes_sit_in_the_string_view_before_the_row_pass(tmp_path):
    """polars keeps strings of at most STRING_INLINE (12) bytes inside the view: planned as
    measured, such ids add STRING_ID bytes and no payload; 13 bytes add their payload."""
    from segscore.memory import STRING_ID, STRING_INLINE, measured_id_bytes, planned_id_bytes

    cols = build_config({}).columns
    for length, payload in ((STRING_INLINE, 0), (STRING_INLINE + 1, STRING_INLINE + 1)):
        ids = [f"{i:0{length}d}" for i in range(3)]
        infos = inspect_inputs([_ids_file(tmp_path / f"{length}.parquet", ids)], cols)
        assert infos[0].id_length == length
        assert planned_id_bytes(infos) == STRING_ID + payload
        assert measured_id_bytes(pl.Series(ids)) == STRING_ID + payload


def test_the_plan_counts_a_models_channel_columns(tmp_path):
    """Under --model the share columns are the model's (channel_columns), which may be more
    than tonight's rows show, and which the plan knows before the row pass: the estimate
    grows by PER_CHANNEL per customer for each one beyond 4 (it assumed 4, or sampled
    tonight's 2 channel values), and a budget the model's 17 columns do not fit is refused
    up front, by validate too (it said valid), not after the row pass. Tonight: 30 files of
    200 one-row customers, so the per-customer tables, not the row batches, make the
    estimate."""
    import numpy as np

    from segscore.memory import downstream_bytes
    from segscore.validation import validation_report

    def frame(n, channels):
        return pl.DataFrame({
            "customer_id": np.arange(n),
            "order_ts": pl.datetime_range(pl.datetime(2026, 1, 1), pl.datetime(2026, 3, 1),
                                          "5m", eager=True).head(n),
            "amount": np.random.default_rng(5).random(n) * 100 + 1,
            "channel": [f"ch{i % channels:02d}" for i in range(n)]})

    cfg = build_config({"clustering": {"enabled": False}})
    frame(200, 20).write_parquet(tmp_path / "fit.parquet")
    segscore.run(tmp_path / "fit.parquet", tmp_path / "fit", config=cfg, report=False)
    model = json.loads((tmp_path / "fit" / "model.json").read_text())
    assert len(model["channel_columns"]["columns"]) == 16 and model["channel_columns"]["other"]
    few = dict(model, channel_columns={"columns": dict(list(
        model["channel_columns"]["columns"].items())[:2]), "other": True})
    (tmp_path / "few.json").write_text(json.dumps(few))
    n, files = 6000, 30
    src = tmp_path / "tx"
    src.mkdir()
    tonight = frame(n, 2)
    for f in range(files):
        tonight.slice(f * (n // files), n // files).write_parquet(src / f"t{f:02d}.parquet")
    estimates = {name: segscore.run(src, None, config=cfg, model_path=path, partitions=8,
                                    report=False).manifest["memory"]["estimated_peak_bytes"]
                 for name, path in (("few", tmp_path / "few.json"),
                                    ("all", tmp_path / "fit" / "model.json"))}
    assert estimates["few"] == downstream_bytes(n, 3) == downstream_bytes(n, 4)
    assert estimates["all"] == downstream_bytes(n, 17) > estimates["few"]
    budget = (downstream_bytes(n, 4) + downstream_bytes(n, 17)) // 2
    report = validation_report(str(src), cfg, model_path=tmp_path / "fit" / "model.json",
                               memory_limit_bytes=budget)
    assert [p["message"] for p in report["problems"] if "and 17 channel columns need at "
            "least" in p["message"]], report["problems"]
    with pytest.raises(segscore.InputError, match="and 17 channel columns need at least"):
        segscore.run(src, None, config=cfg, model_path=tmp_path / "fit" / "model.json",
                     memory_limit_bytes=budget)
