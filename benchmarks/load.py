"""Under load: a case timed idle, then with CPU-burning processes beside it, in the same run.

The burners are plain Python busy loops (one process each, so each takes a core when it can),
started here with a deadline and killed here afterwards. Each library's slowdown is its
loaded median over its idle median, both from interleaved rounds in the same phase.
"""

import os
import subprocess
import sys
import time

import timer

BURNERS = 2
_BURN = "import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end:\n    pass\n"


def start_burners(n, seconds):
    return [subprocess.Popen([sys.executable, "-c", _BURN.format(seconds=seconds)]) for _ in range(n)]


def stop_burners(procs):
    for p in procs:
        if p.poll() is None:
            p.kill()
    for p in procs:
        p.wait()


def measure(harness, case, labels=("cyconv", "torch"), burners=BURNERS, log=print):
    ok, errors, skipped, wrong, _, est = harness.prepare(case, list(labels))
    result = {"case": case.id, "burners": burners, "idle": {}, "loaded": {}, "errors": {**errors, **skipped},
              "wrong": wrong}
    if "cyconv" not in ok:
        result["error"] = f"cyconv not measured: {result['errors'].get('cyconv', 'unavailable')}"
        harness.drop(labels)
        return result
    idle, _, _, _ = harness.sample_rounds(case, ok, est)
    # bound the burners' life: generous for the loaded rounds, a 20x slowdown included
    budget = min(600, 60 + harness.rounds * sum(20 * max(est[lab], harness.min_time) for lab in ok))
    log(f"  starting {burners} CPU burners (at most {budget:.0f} s)")
    procs = start_burners(burners, budget)
    try:
        time.sleep(1.0)  # let them reach full speed and the load average start to show them
        loaded, _, _, dead = harness.sample_rounds(case, ok, est)
        result["load_1min_loaded"] = round(os.getloadavg()[0], 2)
    finally:
        stop_burners(procs)
    harness.drop(labels)
    result["errors"].update(dead)
    for lab in ok:
        if idle.get(lab):
            result["idle"][lab] = timer.stats(idle[lab])
        if loaded.get(lab):
            result["loaded"][lab] = timer.stats(loaded[lab])
        if lab in result["idle"] and lab in result["loaded"]:
            result[f"slowdown_{lab}"] = result["loaded"][lab]["median_s"] / result["idle"][lab]["median_s"]
    if "slowdown_cyconv" in result and "slowdown_torch" in result:
        result["slowdown_ratio"] = result["slowdown_cyconv"] / result["slowdown_torch"]
    return result
