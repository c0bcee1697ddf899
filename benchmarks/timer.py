"""How one time is taken (back-to-back calls), and how samples are summarised.

``sample`` is what a worker runs when the controller says "time this for T seconds": a few
warm-up calls (they wake the library's thread pool, which slept while other workers ran),
then back-to-back calls until at least ``min_time`` seconds and ``min_calls`` calls have
passed, garbage collector off, as a training loop makes them. The sample's value is the mean
time per call. ``plain_loop.py`` uses the same loop, so the two measure the same thing.
"""

import gc
import statistics
import time


def _loop(fn, min_time, min_calls):
    calls, t0 = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - t0
        if calls >= min_calls and elapsed >= min_time:
            return elapsed, calls


def sample(fn, min_time, min_calls=1, warmup_time=0.0):
    """Warm up for ``warmup_time`` s (at least one call when > 0), then time back-to-back calls.

    Returns ``(seconds per call, calls timed, warm-up calls)``.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        warm = _loop(fn, warmup_time, 1)[1] if warmup_time > 0 else 0
        elapsed, calls = _loop(fn, min_time, min_calls)
    finally:
        if enabled:
            gc.enable()
    return elapsed / calls, calls, warm


def stats(samples):
    """Median, quartiles, min and max of per-call times (seconds)."""
    s = sorted(samples)
    if len(s) >= 2:
        q1, _, q3 = statistics.quantiles(s, n=4, method="inclusive")
    else:
        q1 = q3 = s[0]
    med = statistics.median(s)
    return {"median_s": med, "q1_s": q1, "q3_s": q3, "min_s": s[0], "max_s": s[-1],
            "half_iqr": (q3 - q1) / 2 / med if med else 0.0, "n": len(s), "samples_s": list(samples)}
