"""The ``segscore`` command line: parse options, call the API, map errors to exit codes
(0 ok, 2 bad input or usage, 1 internal error). No logic lives here."""

from __future__ import annotations

import errno
import functools
import math
import os
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from segscore import environment, launch, stopping
from segscore.errors import ConfigError, InputError, naming_flag, not_utf8, one_line
from segscore.stopping import Terminated


def _reader_gone() -> None:
    """stdout's reader has gone (``segscore … | head -1``): the rest of the output goes to
    /dev/null, so the command ends with its own verdict, 0 or 2 (it was exit 1, which hid an
    invalid input, or a finished run's success)."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


class _Stdout(Console):
    """A Console for stdout whose closed pipe drops the rest of the output (rich's own
    handling raises SystemExit(1))."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        _reader_gone()


#: stdout: paths and lines never broken mid-name (logs, pipes); no markup, since the lines
#: carry the user's text (segment names, paths) and "[/x]" in a name stopped the summary
out_console = _Stdout(soft_wrap=True, markup=False)


#: a generator seed (numpy takes any non-negative integer)
SEED = click.IntRange(min=0, max=2**63 - 1)


class PathText(click.Path):
    """click.Path that refuses an empty or blank value: it would mean the current directory
    (``--out "$OUT"`` with OUT unset must not write, or --overwrite, there); and a path
    that is not valid UTF-8."""

    def convert(self, value, param, ctx):
        if isinstance(value, str) and not value.strip():
            self.fail("an empty path (an unset variable?); give the path itself", param, ctx)
        if isinstance(value, str) and (problem := not_utf8(value)):
            self.fail(problem, param, ctx)
        return super().convert(value, param, ctx)


#: --memory-limit in GiB: at most the 64-bit address space, 16 EiB (1e308 GiB overflowed the
#: byte count: an internal error)
MEMORY_GIB = click.FloatRange(min=0.1, max=2.0**34)


def _finite(ctx, param, value):
    """click callback: refuse nan and inf (FloatRange lets them through)."""
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a finite number")
    return value


def _on_sigterm(signum, frame) -> None:
    """Unwind like Ctrl-C, so that a run removes its temporary directory and lock (the
    default action killed the process and left both for the next run); the request is also
    remembered, so a run whose exception a library swallowed does not commit."""
    stopping.request("SIGTERM")
    raise Terminated("SIGTERM")


def _on_sigint(signum, frame) -> None:
    """Ctrl-C: Python's KeyboardInterrupt, with the request remembered as for SIGTERM."""
    stopping.request("SIGINT")
    raise KeyboardInterrupt


def _exit_leaving_stuck_threads(code: int) -> None:
    """Exit now when a worker thread is still running after an interrupt (one may wait
    forever on a lock the interrupted main thread held): the run has already removed its
    temporary directory and lock, and a normal exit would join the thread."""
    if any(t.is_alive() and not t.daemon for t in threading.enumerate()
           if t is not threading.current_thread()):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


#: what the running command has finished writing (its output is in place), so that a failure
#: after it (stdout on a full disk) does not say that nothing was written
_finished: list[Path] = []


def _done(path) -> None:
    """Mark the command's output at ``path`` as written and in place."""
    _finished[:] = [Path(path)]


def _fail(exc: Exception, code: int) -> None:
    """Print ``exc`` and exit with ``code``; an input problem's message on one line."""
    click.echo(f"error: {one_line(str(exc)) if code == 2 else exc}", err=True)
    sys.exit(code)


def _stopped(signal_name: str) -> None:
    """A signal stopped the command: its one-line message, exit 1 (SPEC §6 has 0, 1, 2)."""
    click.echo(launch.message(signal_name), err=True)
    _exit_leaving_stuck_threads(1)
    sys.exit(1)


def _guard(fn, address_space_limit: bool = True):
    """Run a command body: InputError → exit 2 with its message; anything else → exit 1
    (a full disk or quota with a message saying so, the rest as an internal error).
    ``address_space_limit``: the command loads numba and polars (environment.check)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        _finished.clear()
        stopping.reset()  # (a command run before it in this process may have been stopped)
        try:
            environment.check(address_space_limit)  # before anything imports numba or polars
            return fn(*args, **kwargs)
        except InputError as exc:
            _fail(exc, 2)
        except (click.exceptions.Exit, click.ClickException):
            raise
        except (Terminated, KeyboardInterrupt) as exc:  # exit 1: SPEC §6 has 0, 1 and 2 only
            _stopped(str(exc) or "SIGINT")
        except Exception as exc:
            if stopping.requested():  # the signal's exception, turned into another by a
                _stopped(stopping.requested())  # library it crossed (polars, numba)
            if isinstance(exc, OSError) and _finished:  # e.g. stdout on a full disk
                _fail(RuntimeError(f"{_finished[0]} is written and in place, but printing to "
                                   f"the terminal failed: {exc.strerror or exc}"), 1)
            if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
                # the machine, not segscore nor the input (the run directory is atomic)
                _fail(RuntimeError(f"{exc.strerror} while writing {exc.filename or 'the output'}"
                                   "; the run was abandoned and nothing was replaced: free "
                                   "some space and run again"), 1)
            _fail(RuntimeError(f"internal error ({type(exc).__name__}): {exc}"), 1)
        except BaseException as exc:
            # a panic inside polars (pyo3's PanicException is a BaseException): still an
            # internal error with its message, not a traceback
            if type(exc).__name__ != "PanicException":
                raise
            if stopping.requested():  # the signal's exception met Rust code: a panic
                _stopped(stopping.requested())
            _fail(RuntimeError(f"internal error (a panic in polars): "
                               f"{str(exc).splitlines()[0] if str(exc) else ''}"), 1)
        finally:  # the request was this command's: a segscore.run later in this process
            stopping.reset()  # (a notebook's) would otherwise refuse to commit its output
    return wrapper


def _summary(result) -> None:
    table = Table(title=f"Segments as of {result.manifest['as_of']}")
    for col in ("segment", "customers", "share", "revenue share"):
        table.add_column(col, justify="left" if col == "segment" else "right")
    for p in result.report["segments"]:
        table.add_row(p["name"], f"{p['customers']:,}", f"{100 * p['customer_share']:.1f}%",
                      f"{100 * p['revenue_share']:.1f}%")
    out_console.print(table)
    rows = result.manifest["rows"]
    out_console.print(f"rows read {rows['read']:,} · used {rows['used']:,} · rejected "
                      f"{rows['rejected_total']:,} · after as_of {rows['after_as_of']:,} · "
                      f"outside window {rows['outside_window']:,}")
    if result.out_dir is not None:
        out_console.print(f"output: {result.out_dir}\nreport: {result.out_dir / 'report' / 'index.html'}")


BINS_OPTION = click.option(
    "--bins", type=click.IntRange(2, 9),
    help="Quantile bins 2..9 (default 5). The built-in segment tables are for 5: other "
         "counts need your own [[segments.rules]] in --config.")
SEGMENTS_OPTION = click.option("--segments", "preset",
                               type=click.Choice(["rfm", "value_behaviour"]),
                               help="Built-in segment table.")
K_OPTION = click.option("--k", "k", help="Clusters: a number 2..64, 'auto' (default) or 'off'.")


def run_options(fn):
    """Options of ``run``."""
    for option in reversed([
        click.option("--config", "config_path", type=PathText(dir_okay=False),
                     help="TOML config (columns, bins, rule tables, clustering)."),
        click.option("--as-of", help="Scoring instant: a date (end of that day) or timestamp. "
                                     "Default: end of the day of the latest valid transaction."),
        click.option("--window-days", type=click.IntRange(min=1),
                     help="Only use rows in (as_of - N days, as_of]."),
        BINS_OPTION,
        click.option("--model", "model_path", type=PathText(dir_okay=False),
                     help="Re-apply a previous run's model.json instead of refitting (it fixes "
                          "bins, segment table and clusters: --bins/--segments/--k must agree)."),
        SEGMENTS_OPTION,
        K_OPTION,
        click.option("--previous", type=PathText(file_okay=False),
                     help="Last night's output directory: adds segment migration to the report."),
        click.option("--customers", "attributes", type=PathText(dir_okay=False),
                     help="Customer attributes Parquet (one row per customer id) for the "
                          "profiles, and for attr:<column> clustering features."),
        click.option("--memory-limit", "memory_limit_gb", type=MEMORY_GIB,
                     callback=_finite,
                     help="Memory budget in GiB (default: 80% of the memory available: "
                          "the smaller of the cgroup limit and MemAvailable)."),
        click.option("--overwrite", is_flag=True, help="Replace an existing segscore output."),
        click.option("--quiet", is_flag=True, help="No progress output."),
    ]):
        fn = option(fn)
    return fn


def _overrides(window_days, bins, preset, k) -> tuple[dict, dict]:
    """The config overrides of the flags given (TOML shape; a flag replaces the file's value,
    --segments the file's whole segment table) and, per key set, the flag to name in errors."""
    over: dict = {}
    flags: dict = {}
    for key, flag, value in (("window_days", "--window-days", window_days),
                             ("bins", "--bins", bins)):
        if value is not None:
            over.setdefault("scoring", {})[key] = value
            flags[f"scoring.{key}"] = f"{flag} {value}"
    if preset:
        over["segments"] = {"preset": preset}
        flags["segments"] = f"--segments {preset}"
    if k is not None:
        if not (k in ("off", "auto") or (k.isascii() and k.isdigit())):
            raise InputError(f"--k: expected a number, 'auto' or 'off', got {k!r}")
        over["clustering"] = {"enabled": k != "off", "k": int(k) if k.isdigit() else k}
        flags["clustering.k"] = f"--k {k}"
    return over, flags


def _limit_bytes(memory_limit_gb: float | None) -> int | None:
    """--memory-limit in bytes (None: not given, the run's default budget)."""
    return int(memory_limit_gb * 2**30) if memory_limit_gb else None


def _model_flags(bins, preset, k) -> dict:
    """The flags a --model fixes, as model.check_flags compares them (None: not given)."""
    return {"--bins": bins, "--segments": preset,
            "--k": str(int(k)) if k and k.isascii() and k.isdigit() else k}


def _run(source, out, config_path, as_of, window_days, bins, model_path, preset, k,
         overwrite, quiet, previous=None, attributes=None, memory_limit_gb=None):
    from segscore.config import load_config
    from segscore.model import check_flags
    from segscore.output import RunDirectory
    from segscore.pipeline import run
    from segscore.progress import StageProgress

    if model_path is not None:
        # a previous output a killed run left moved aside is back before the model is read
        RunDirectory(Path(out), overwrite).restore_previous()
        check_flags(model_path, _model_flags(bins, preset, k))
        bins = preset = k = None  # they agree with the model, which wins
    overrides = _overrides(window_days, bins, preset, k)
    config = load_config(config_path, *overrides)
    try:
        # config_path too: the run refuses a config file inside the output it replaces
        result = run(source, out, config=config, config_path=config_path, as_of=as_of,
                     model_path=model_path,
                     overwrite=overwrite, previous=previous, attributes=attributes,
                     memory_limit_bytes=_limit_bytes(memory_limit_gb),
                     on_stage=StageProgress(quiet))
    except ConfigError as exc:  # e.g. a --window-days reaching before the year 1
        raise naming_flag(exc, overrides[1], config_path) from None
    for warning in result.manifest.get("warnings", []):  # shown even with --quiet
        click.echo(f"warning: {one_line(warning)}", err=True)
    return result


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="segscore")
@click.pass_context
def main(ctx: click.Context) -> None:
    """segscore: nightly customer segmentation from Parquet transactions."""
    for stream in (sys.stdout, sys.stderr):  # an ASCII or Latin-1 terminal (PYTHONIOENCODING,
        try:  # a C locale without UTF-8 mode): "·" or a segment name "★" printed as an escape
            stream.reconfigure(errors="backslashreplace")  # instead of failing a finished run
        except (AttributeError, ValueError):
            pass
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, handler) for sig, handler in
                    ((signal.SIGTERM, _on_sigterm), (signal.SIGINT, _on_sigint))}
        previous.update(launch.ORIGINAL)  # not segscore.launch's, set while the CLI loaded
        ctx.call_on_close(lambda: [signal.signal(sig, h) for sig, h in previous.items()])


@main.command("run")
@click.argument("source", nargs=-1, required=True, type=PathText(readable=False))
@click.option("--out", required=True, type=PathText(file_okay=False),
              help="Output directory (written atomically).")
@run_options
@_guard
def run_cmd(source, out, quiet, **opts):
    """Score the transactions in SOURCE (Parquet file, directory, glob or hive dataset)."""
    result = _run(list(source), out, quiet=quiet, **opts)
    _done(result.out_dir)
    if not quiet:
        _summary(result)


#: --customers of generate and demo: the generator's id space bounds it
CUSTOMERS = click.IntRange(min=1, max=900_000_000)


@main.command()
@click.option("--customers", default=100_000, show_default=True, type=CUSTOMERS)
@click.option("--seed", default=0, show_default=True, type=SEED)
@click.option("--out", type=PathText(file_okay=False),
              help="A new or empty directory for the data and output (default: a new temp "
                   "folder, kept).")
@click.option("--quiet", is_flag=True, help="No progress output.")
@_guard
def demo(customers, seed, out, quiet):
    """Generate a synthetic base with its attributes file, run the whole pipeline on it,
    print the summary and where the data was kept."""
    from segscore_datasets import generate_transactions

    root = Path(out) if out else Path(tempfile.mkdtemp(prefix="segscore-demo-"))
    if out and root.is_dir() and any(root.iterdir()):
        raise InputError(f"--out {root}: the directory exists and is not empty (an earlier "
                         "demo?); choose another --out or remove it")
    created = out is None or not root.exists()
    if not quiet:
        Console(stderr=True, soft_wrap=True, markup=False).print(
            f"generating {customers:,} synthetic customers in {root} …")
    try:
        data = _writing(root, lambda: generate_transactions(root / "data", customers, seed=seed))
        result = _run([str(data.out_dir / "transactions")], root / "output", config_path=None,
                      as_of=None, window_days=None, bins=None, model_path=None, preset=None,
                      k=None, overwrite=False, quiet=quiet,
                      attributes=str(data.attributes_path))
    except BaseException:
        shutil.rmtree(root if created else root / "data", ignore_errors=True)
        raise
    _done(root)
    _summary(result)
    _demo_notes(customers, result, root, temporary=out is None)


def _writing(out: Path, write):
    """``write()``, with an OSError by which the OS refuses the path (read-only, a parent that
    is a file…) as an InputError naming ``out`` (output.cannot_write; other errors as they
    are)."""
    from segscore.output import cannot_write

    try:
        return write()
    except OSError as exc:
        raise cannot_write(out, exc) from None


def _demo_notes(generated: int, result, root: Path, temporary: bool) -> None:
    """Why fewer customers were scored than generated, and where the demo's files are."""
    seen = result.manifest["customers"]
    out_console.print(f"{generated:,} customers generated, {seen['scored']:,} scored: the other "
                      f"{generated - seen['seen']:,} have no transaction in the generated period "
                      "(inactive accounts, in the attributes file only)")
    if seen["not_scored"]:
        out_console.print(f"{seen['not_scored']:,} customers with no purchase in the window are "
                          f"listed in {result.out_dir / 'unscored'}")
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    kept = "kept in a temporary folder: remove it when done" if temporary else "kept"
    out_console.print(f"data and output: {root.absolute()} ({size / 1e6:.1f} MB, {kept})")


@main.command()
@click.option("--customers", required=True, type=CUSTOMERS)
@click.option("--out", required=True, type=PathText(file_okay=False))
@click.option("--seed", default=0, show_default=True, type=SEED)
@click.option("--files", type=click.IntRange(min=1), help="Number of transaction files.")
@click.option("--quiet", is_flag=True, help="No progress output.")
@functools.partial(_guard, address_space_limit=False)  # numpy and pyarrow only
def generate(customers, out, seed, files, quiet):
    """Write a realistic synthetic transaction set (bounded memory, any scale)."""
    from segscore_datasets import generate_transactions

    from segscore.progress import StepProgress

    try:
        with StepProgress(quiet) as progress:
            s = _writing(Path(out), lambda: generate_transactions(
                out, customers, seed=seed, files=files, on_progress=progress))
    except ValueError as exc:  # the generator names its parameter: name the option
        text = str(exc)
        option = next((o for o in ("customers", "files") if text.startswith(o)), None)
        raise InputError(f"--{text}" if option else f"--out {out}: {text}") from None
    _done(s.out_dir)
    out_console.print(f"{s.customers:,} customers, {s.rows:,} rows in {len(s.files)} files "
                      f"({s.bytes_written / 1e6:.1f} MB) → {s.out_dir}")


@main.command()
@click.argument("source", nargs=-1, required=True, type=PathText(readable=False))
@click.option("--config", "config_path", type=PathText(dir_okay=False),
              help="TOML config to check; the files are checked with its column names "
                   "and bounds (default: the built-in defaults).")
@click.option("--as-of", help="Scoring instant for the would-be reconciliation.")
@click.option("--window-days", type=click.IntRange(min=1),
              help="Only rows in (as_of - N days, as_of] are used, as in run.")
@BINS_OPTION
@SEGMENTS_OPTION
@K_OPTION
@click.option("--customers", "attributes", type=PathText(dir_okay=False),
              help="Customer attributes Parquet the run would get: its ids (type, "
                   "duplicates), columns and the attr:<column> clustering features the "
                   "config names are checked.")
@click.option("--previous", type=PathText(file_okay=False),
              help="Last night's output directory the run would get: checked as run checks it.")
@click.option("--model", "model_path", type=PathText(dir_okay=False),
              help="model.json the run would re-apply: checked as run checks it (and "
                   "--bins/--segments/--k against it).")
@click.option("--memory-limit", "memory_limit_gb", type=MEMORY_GIB,
              callback=_finite,
              help="The run's memory budget in GiB (default, as in run: 80% of the memory "
                   "available): its plan and its check after the row pass are made for it.")
@_guard
def validate(source, config_path, as_of, window_days, bins, preset, k, attributes, previous,
             model_path, memory_limit_gb):
    """Report every config, file and schema problem and the would-be row reconciliation,
    without scoring. Exit 2 when there is a problem; what a run would warn about (a
    --previous not before tonight) is a warning on stderr, not a problem."""
    from segscore.config import parse_as_of
    from segscore.validation import format_report, validation_report

    model_flags = _model_flags(bins, preset, k)
    if model_path is not None:  # as run: the model fixes them; one that differs is a problem
        bins = preset = k = None
    report = validation_report(list(source), config_path, as_of=parse_as_of(as_of),
                               attributes=attributes, previous=previous,
                               model_path=model_path, model_flags=model_flags,
                               overrides=_overrides(window_days, bins, preset, k),
                               memory_limit_bytes=_limit_bytes(memory_limit_gb))
    try:
        click.echo(format_report(report))
    except BrokenPipeError:  # `validate … | head -1`: the verdict is the exit code all the same
        _reader_gone()
    for warning in report["warnings"]:  # as run prints them; they change no verdict
        click.echo(f"warning: {one_line(warning)}", err=True)
    if not report["ok"]:
        sys.exit(2)


@main.command()
@click.argument("out_dir", type=PathText(file_okay=False, exists=True))
@_guard
def report(out_dir):
    """Re-render OUT_DIR/report/index.html from its report.json."""
    from segscore.report.rerender import rerender

    page = rerender(Path(out_dir))
    _done(page)
    out_console.print(f"wrote {page}")


if __name__ == "__main__":  # python -m segscore.cli
    main()
