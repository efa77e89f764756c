"""Where numba's kernel cache goes (native_kernels._options): a read-only install whose HOME
is read-only too made numba refuse every cached kernel at import, so even ``segscore --help``
failed with a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

from native_kernels._options import cache_choice


def test_numbas_own_cache_when_it_can_write_one(tmp_path):
    assert cache_choice([tmp_path / "nope" / "x", tmp_path / "ok"], tmp_path / "fb") == (True, None)


def test_a_private_temp_dir_when_numba_can_write_none(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file, so nothing can be created below it")
    unwritable = [blocker / "pkg" / "__pycache__", blocker / "home" / ".cache"]
    fallback = tmp_path / "segscore-numba-cache"
    assert cache_choice(unwritable, fallback) == (True, str(fallback))
    assert oct(fallback.stat().st_mode & 0o777) == "0o700"


def test_no_cache_rather_than_a_temp_dir_someone_else_could_write(tmp_path):
    """numba loads code from its cache: a fallback that others can write (or a symlink) is
    not used; the kernels are then compiled in every process."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    unwritable = [blocker / "a"]
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    assert cache_choice(unwritable, shared) == (False, None)
    target = tmp_path / "target"
    target.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(target)
    assert cache_choice(unwritable, tmp_path / "link") == (False, None)


def test_kernels_load_where_numba_can_write_no_cache(tmp_path):
    """A copy of native_kernels whose __pycache__ cannot be a directory (a file there) and a
    HOME / XDG_CACHE_HOME numba cannot write: importing the kernels and `segscore --help`
    work, and the kernels cache under TMPDIR (numba raised "no locator available" at import,
    a traceback even for --help)."""
    import shutil
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    pkg = tmp_path / "pkg"
    shutil.copytree(repo / "native_kernels", pkg / "native_kernels",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (pkg / "native_kernels" / "__pycache__").write_text("not a directory")
    blocker = tmp_path / "file"
    blocker.write_text("")
    env = {**os.environ, "HOME": str(blocker / "home"), "XDG_CACHE_HOME": str(blocker / "c"),
           "TMPDIR": str(tmp_path), "PYTHONPATH": os.pathsep.join(
               [str(pkg), str(repo / "src"), str(repo / "datasets")])}
    env.pop("NUMBA_CACHE_DIR", None)
    code = ("import native_kernels, native_kernels.quantile as q, numba\n"
            "assert native_kernels.__file__.startswith(%r), native_kernels.__file__\n"
            "print(numba.config.CACHE_DIR)\n"
            "from segscore.cli import main; main()\n") % str(pkg)
    proc = subprocess.run([sys.executable, "-c", code, "--help"], env=env, capture_output=True,
                          text=True, timeout=300, cwd=tmp_path)  # not the checkout's copy
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == str(tmp_path / f"segscore-numba-cache-{os.getuid()}")
