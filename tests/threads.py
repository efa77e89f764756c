"""Thread helpers of the tests: a kernel call on a given number of numba threads (the 1- and
2-thread checks), and how many of the report's optional sections run at once."""

import numba


def with_threads(threads: int, fn, *args):
    """fn(*args) with numba's thread count set to ``threads`` for the call, then restored."""
    numba.set_num_threads(threads)
    try:
        return fn(*args)
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)


def track_section_overlap(monkeypatch, hold_s: float = 0.2) -> dict:
    """Make each of the report's two optional sections hold ``hold_s`` seconds and record in
    the returned dict's ``most`` how many ran at once."""
    import threading
    import time

    import segscore.report.sections as sections

    state = {"active": 0, "most": 0}
    lock = threading.Lock()

    def wrap(fn):
        def run(*args):
            with lock:
                state["active"] += 1
                state["most"] = max(state["most"], state["active"])
            time.sleep(hold_s)
            try:
                return fn(*args)
            finally:
                with lock:
                    state["active"] -= 1
        return run

    monkeypatch.setattr(sections, "attribute_breakdowns", wrap(sections.attribute_breakdowns))
    monkeypatch.setattr(sections, "_migration", wrap(sections._migration))
    return state
