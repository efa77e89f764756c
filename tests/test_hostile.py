"""Hostile input (issue 6 part 5): ids, channels and categories full of path separators, dots,
``=``, quotes, markup, emoji and 10k-character strings are plain data. Nothing is written
outside the output directory, partition directories come only from config keys (slugs), the
HTML report escapes everything, and a config is TOML data only."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import segscore
from segscore.config import build_config, load_config
from segscore.errors import ConfigError

HOSTILE = [
    "/", "..", "../../../../tmp/escaped", "segment=champions", "a=b/c=d", "'", '"', '";DROP--',
    "<script>alert('x')</script>", "😀🔥👨‍👩‍👧", "x" * 10_000, "C:\\Windows\\..\\x", "line\nbreak",
    "tab\tsep", "nul\x00byte", "%2e%2e%2f", "~root", "$(touch /tmp/pwned)", "{{ 7*7 }}",
    "other", "Other", "share_other", " padded ", "é", "\u202eevil",
]


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def write_input(path: Path, ids: list[str]) -> Path:
    n = len(ids) * 3
    rows_ids = [ids[i % len(ids)] for i in range(n)]
    table = pa.table({
        "customer_id": pa.array(rows_ids, pa.string()),
        "order_ts": pa.array([datetime(2025, 1, 1) + timedelta(hours=7 * i) for i in range(n)],
                             pa.timestamp("us")),
        "amount": pa.array([float(10 + (i * 37) % 500) for i in range(n)]),
        "channel": pa.array([HOSTILE[(i * 7) % len(HOSTILE)] for i in range(n)]),
        "category": pa.array([HOSTILE[(i * 5) % len(HOSTILE)] for i in range(n)]),
        "order_id": pa.array([HOSTILE[i % len(HOSTILE)] + str(i) for i in range(n)]),
    })
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


def check_confined(root: Path, before: set[str], out: Path, config) -> None:
    new = tree(root) - before
    rel_out = str(out.relative_to(root))
    escaped = {p for p in new if not (p == rel_out or p.startswith(rel_out + "/") or
                                      rel_out.startswith(p + "/") or  # created parent dirs
                                      p.endswith(f".{out.name}.segscore-lock"))}
    assert escaped == set(), escaped
    keys = set(config.segments.keys)
    for d in (out / "customers").iterdir():
        assert d.name.startswith("segment=") and d.name.split("=", 1)[1] in keys
    for p in out.rglob("*"):
        assert p.resolve().is_relative_to(out.resolve())
        assert re.fullmatch(r"[A-Za-z0-9_.=-]+", p.name), p.name


def test_hostile_values_are_data(tmp_path):
    ids = [h for h in HOSTILE if h.strip()]
    src = write_input(tmp_path / "in" / "t.parquet", ids)
    out = tmp_path / "run" / "out"
    before = tree(tmp_path)
    config = build_config({"clustering": {"k": 3}})
    result = segscore.run(str(src), out, config=config)
    check_confined(tmp_path, before, out, config)

    customers = pl.concat([pl.read_parquet(p) for p in (out / "customers").rglob("*.parquet")],
                          how="diagonal")
    assert sorted(customers["customer_id"].to_list()) == sorted(ids)  # exact round trip
    assert result.manifest["rows"]["balanced"] and result.manifest["rows"]["used"] == 3 * len(ids)
    for col in customers.columns:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", col), col
    html = (out / "report" / "index.html").read_text("utf-8")
    assert "<script>alert(" not in html
    json.loads((out / "report" / "report.json").read_text("utf-8"))
    assert not Path("/tmp/pwned").exists() and not (tmp_path / "escaped").exists()


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ids=st.lists(st.text(min_size=1, max_size=30).filter(lambda s: s.strip()),
                    min_size=2, max_size=12, unique=True))
def test_random_unicode_ids_round_trip_and_stay_confined(tmp_path_factory, ids):
    root = tmp_path_factory.mktemp("h")
    src = write_input(root / "in" / "t.parquet", ids)
    out = root / "out"
    before = tree(root)
    config = build_config({"clustering": {"enabled": False}})
    segscore.run(str(src), out, config=config)
    check_confined(root, before, out, config)
    got = pl.concat([pl.read_parquet(p) for p in (out / "customers").rglob("*.parquet")],
                    how="diagonal")["customer_id"].to_list()
    assert sorted(got) == sorted(ids)


def test_segment_names_with_markup_are_escaped(tmp_path):
    src = write_input(tmp_path / "in" / "t.parquet", [f"c{i}" for i in range(40)])
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        '[[segments.rules]]\nkey = "top"\nname = "<script>alert(1)</script>"\nr = [4, 5]\n'
        'action = "__import__(\'os\').system(\'touch /tmp/pwned2\')"\n\n'
        '[[segments.rules]]\nkey = "rest"\nname = "../../rest"\n\n'
        '[clustering]\nenabled = false\n')
    config = load_config(cfg)
    out = tmp_path / "out"
    before = tree(tmp_path)
    segscore.run(str(src), out, config=config)
    check_confined(tmp_path, before, out, config)
    assert {d.name for d in (out / "customers").iterdir()} <= {"segment=top", "segment=rest"}
    html = (out / "report" / "index.html").read_text("utf-8")
    assert "<script>alert(1)" not in html
    assert not Path("/tmp/pwned2").exists()


def test_names_and_paths_that_look_like_console_markup_print_as_text(tmp_path):
    """A segment name or an --out path holding rich console markup ("[/x]", "[bold]") prints
    as typed in the CLI summary; an unmatched closing tag stopped the summary with "internal
    error", exit 1, after the output was written."""
    from click.testing import CliRunner

    from segscore.cli import main

    src = write_input(tmp_path / "in" / "t.parquet", [f"c{i}" for i in range(40)])
    cfg = tmp_path / "c.toml"
    cfg.write_text('[[segments.rules]]\nkey = "top"\nname = "[bold]Top[/] [/x]"\nr = [4, 5]\n\n'
                   '[[segments.rules]]\nkey = "rest"\nname = "Rest [/]"\n')
    out = tmp_path / "o[bold]ut[/]"
    r = CliRunner(env={"COLUMNS": "200"}).invoke(main, ["run", str(src), "--out", str(out),
                                                        "--config", str(cfg), "--k", "off"])
    assert r.exit_code == 0, r.output
    assert "[bold]Top[/] [/x]" in r.stdout and "Rest [/]" in r.stdout
    assert f"output: {out}" in r.stdout


@pytest.mark.parametrize("key", ["../x", "a/b", "segment=x", "X", "ü", "a" * 80, "", "1abc"])
def test_partition_keys_must_be_slugs(key):
    with pytest.raises(ConfigError, match="slug"):
        build_config({"segments": {"rules": [{"key": key}]}})


@pytest.mark.parametrize("text", [
    "import os\n",
    "!!python/object/apply:os.system ['touch /tmp/pwned3']\n",
    "__import__('os').system('touch /tmp/pwned3')\n",
    "[scoring]\nbins = __import__('os')\n",
])
def test_config_is_toml_data_only(tmp_path, text):
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(cfg)
    assert not Path("/tmp/pwned3").exists()
