"""The run's performance profile: per-stage timings (from the pipeline's StageClock), the
machine, library versions and numba JIT statistics.

JIT compile time is measured with numba's event API: a process-wide listener on
"numba:compile" events, registered when segscore.report is imported (the pipeline imports it
before any kernel runs; kernels compile lazily on first call). Numba fires that event only
for real compilations — loading a kernel from numba's on-disk cache is not an event, so cache
loads are reported as counts (per-dispatcher cache hits/misses), not as time.
"""

from __future__ import annotations

import os
import platform
import sys
import threading
import time

_LOCK = threading.Lock()
_JIT = {"compile_s": 0.0, "compilations": 0, "by_function": {}}
_depth = threading.local()

#: report_build.sections keys, in docs/report.md's order
SECTION_ORDER = ("profiles", "attributes", "migration")


def _install_listener() -> bool:
    try:
        from numba.core import event as ev
    except Exception:  # pragma: no cover - numba is a hard dependency
        return False

    class _CompileTimer(ev.Listener):
        """Sums wall time of outermost compilations (nested ones are inside them)."""

        def on_start(self, event):
            d = getattr(_depth, "d", 0)
            if d == 0:
                _depth.t0 = time.perf_counter()
            _depth.d = d + 1

        def on_end(self, event):
            _depth.d = getattr(_depth, "d", 1) - 1
            if _depth.d == 0:
                dt = time.perf_counter() - _depth.t0
                disp = (event.data or {}).get("dispatcher")
                name = getattr(getattr(disp, "py_func", None), "__qualname__", "?")
                mod = getattr(getattr(disp, "py_func", None), "__module__", "?")
                with _LOCK:
                    _JIT["compile_s"] += dt
                    _JIT["compilations"] += 1
                    key = f"{mod}.{name}"
                    _JIT["by_function"][key] = _JIT["by_function"].get(key, 0.0) + dt

    try:
        ev.register("numba:compile", _CompileTimer())
    except Exception:  # pragma: no cover
        return False
    return True


_LISTENING = _install_listener()


def _dispatchers() -> list[dict]:
    """Cache statistics of the project's numba kernels that are already imported."""
    out = []
    for modname in sorted(m for m in list(sys.modules)
                          if m.startswith(("native_kernels", "segscore"))):
        mod = sys.modules.get(modname)
        for attr, obj in sorted(vars(mod).items()) if mod else []:
            stats = getattr(obj, "stats", None)
            if not hasattr(obj, "signatures") or stats is None or \
                    getattr(obj, "__module__", modname) != modname:
                continue
            try:
                s = obj.stats
                out.append({"function": f"{modname}.{attr}", "signatures": len(obj.signatures),
                            "cache_hits": int(sum(s.cache_hits.values())),
                            "cache_misses": int(sum(s.cache_misses.values()))})
            except Exception:
                continue
    return out


def machine() -> dict:
    info = {"platform": platform.platform(), "machine": platform.machine(),
            "processor": platform.processor() or None, "python": platform.python_version(),
            "python_implementation": platform.python_implementation(),
            "logical_cpus": os.cpu_count()}
    try:
        info["usable_cpus"] = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        info["usable_cpus"] = os.cpu_count()
    try:
        import psutil
        info["physical_cpus"] = psutil.cpu_count(logical=False)
        vm = psutil.virtual_memory()
        info["total_memory_mb"] = round(vm.total / 2**20, 1)
        info["available_memory_mb"] = round(vm.available / 2**20, 1)
    except Exception:  # pragma: no cover - psutil is a dependency
        info["physical_cpus"] = info["total_memory_mb"] = info["available_memory_mb"] = None
    try:
        import numba
        info["numba_threads"] = numba.get_num_threads()
    except Exception:  # pragma: no cover
        info["numba_threads"] = None
    try:
        import polars as pl
        info["polars_threads"] = pl.thread_pool_size()
    except Exception:  # pragma: no cover
        info["polars_threads"] = None
    return info


def performance_profile(result, report_wall_s: float, report_cpu_s: float,
                        sections: dict | None = None) -> dict:
    stages = [dict(s) for s in (result.timings or [])]
    with _LOCK:
        jit = {"measured": _LISTENING, "compile_s": round(_JIT["compile_s"], 4),
               "compilations": _JIT["compilations"],
               "by_function": {k: round(v, 4) for k, v in sorted(_JIT["by_function"].items())}}
    jit["scope"] = ("wall time of numba compilations in this process so far (cache misses); "
                    "loads from numba's on-disk cache are counted below, not timed")
    jit["dispatchers"] = _dispatchers()
    return {
        "stages": stages,
        "total_wall_s": round(sum(s.get("wall_s", 0.0) for s in stages), 4),
        "total_cpu_s": round(sum(s.get("cpu_s", 0.0) for s in stages), 4),
        "peak_rss_mb": max((s.get("peak_rss_mb", 0.0) for s in stages), default=None),
        "report_build": {"wall_s": round(report_wall_s, 4), "cpu_s": round(report_cpu_s, 4),
                         "note": "report.json computation only; the pipeline's 'report' stage "
                                 "(in the manifest's timings) also includes writing files. "
                                 "Sections started after scoring (manifest memory."
                                 "report_sections_started) ran during the cluster and write "
                                 "stages: their times are not in wall_s / cpu_s",
                         # the documented order, not the order the threads finished in
                         "sections": {k: sections[k] for k in SECTION_ORDER
                                      if k in (sections or {})}},
        "jit": jit,
        "machine": machine(),
        "versions": result.manifest.get("versions", {}),
    }
