"""segscore turns on polars' transparent-huge-page allocator setting before polars loads."""

import os
import subprocess
import sys

SNIPPET = ("import segscore, os, polars; "
           "print(os.environ['POLARS_THP'], os.environ['_RJEM_MALLOC_CONF'])")


def _run(env_extra: dict) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("POLARS_THP", "_RJEM_MALLOC_CONF")}
    env.update(env_extra)
    return subprocess.run([sys.executable, "-c", SNIPPET], env=env, capture_output=True,
                          text=True, check=True).stdout.split()


def test_importing_segscore_first_enables_thp_for_polars():
    thp, conf = _run({})
    assert thp == "1" and "thp:always" in conf.split(",")


def test_a_users_setting_wins():
    thp, conf = _run({"POLARS_THP": "0"})
    assert thp == "0" and "thp:always" not in conf.split(",")
