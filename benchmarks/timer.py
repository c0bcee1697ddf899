"""Round-robin timing: each round times every library once, so noise hits all of them alike.

A library whose call raises (a cyconv placeholder raising NotImplementedError, a missing
optional dependency) is reported as unavailable with the reason, never as a crash.
"""

import gc
import math
import statistics
import time
from dataclasses import dataclass, field


@dataclass
class Timing:
    """Per-call times (seconds) of one library on one case, one sample per round."""

    samples: list = field(default_factory=list)
    number: int = 1  # calls per sample

    @property
    def median(self):
        return statistics.median(self.samples)

    @property
    def spread(self):
        """Half the inter-quartile range relative to the median (0.05 = +-5 %)."""
        if len(self.samples) < 2:
            return 0.0
        q1, _, q3 = statistics.quantiles(self.samples, n=4, method="inclusive")
        return (q3 - q1) / 2 / self.median

    def as_dict(self):
        return {
            "median_s": self.median,
            "spread": self.spread,
            "min_s": min(self.samples),
            "max_s": max(self.samples),
            "calls_per_sample": self.number,
            "samples_s": self.samples,
        }


def _run(fn, number):
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        return time.perf_counter() - t0
    finally:
        if gc_was_enabled:
            gc.enable()


def _calibrate(fn, min_time):
    """Calls per sample so that one sample lasts at least ``min_time`` seconds."""
    number = 1
    while True:
        elapsed = _run(fn, number)
        if elapsed >= min_time / 5 or number >= 100_000:
            break
        number *= 10
    return max(1, math.ceil(min_time / (elapsed / number)))


def describe_error(exc):
    if isinstance(exc, NotImplementedError):
        return "not implemented"
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 120 else text[:117] + "..."


def measure(contenders, *, repeat, min_time, warmup=2, check=None, settle=0.0):
    """Time ``contenders`` (name -> zero-argument callable) round-robin.

    Each library is warmed up ``warmup`` times (counting the checked first call and the
    first calibration run), then calibrated to ``min_time`` seconds per
    sample, then ``repeat`` rounds follow; round ``r`` starts with a different library so
    that no library always runs right after the same neighbour.

    Before each sample the harness sleeps ``settle`` seconds, so the worker threads the
    previous library left spinning (OpenBLAS's and each OpenMP runtime's spin-wait after a
    parallel call, tens of ms on this class of machine) have gone to sleep and do not steal
    the cores from the library being timed; each sample starts from quiet thread pools.

    ``check(name, result)``, if given, sees each library's first result and returns None
    (correct) or a short complaint, collected in ``verdicts``.

    Returns ``(timings, errors, verdicts)``: name -> Timing for the libraries that ran,
    name -> reason for those that raised, name -> complaint or None.
    """
    timings, errors, numbers, verdicts = {}, {}, {}, {}
    for name, fn in contenders.items():
        try:
            first = fn()
            if check is not None:
                verdicts[name] = check(name, first)
            del first
            for _ in range(warmup - 2):  # the check call and the calibration are warm-ups too
                fn()
            numbers[name] = _calibrate(fn, min_time)
        except Exception as exc:  # a placeholder or a broken baseline must not stop the run
            errors[name] = describe_error(exc)
    names = list(numbers)
    for name in names:
        timings[name] = Timing(number=numbers[name])
    for r in range(repeat):
        k = r % len(names) if names else 0
        for name in names[k:] + names[:k]:
            number = numbers[name]
            if settle:
                time.sleep(settle)
            timings[name].samples.append(_run(contenders[name], number) / number)
    return timings, errors, verdicts
