"""Interleaved rounds over the library worker processes: how one case is measured.

For a case, every contender's worker first builds its inputs and callable and computes once
(all workers at the same time: nothing is timed yet), and the results are checked against
PyTorch's. Then ``rounds`` rounds follow; in each, every contender takes one sample in turn
(round r starts with the r-th contender, so none always follows the same neighbour). Before a
sample the controller waits until no thread of any other worker is runnable (``worker.quiet``),
and the worker being timed makes its warm-up calls, then back-to-back calls for at least
``min_time`` s. Medians and quartiles are over the rounds; ratios are of medians.
"""

import os
import time

import numpy as np

import libraries
import timer
from worker import Worker, WorkerDied, quiet


def compare(got, ref, dtype):
    """None if ``got`` matches ``ref`` (tuples of arrays) to the dtype's tolerance, else why not."""
    if ref is None or got is None:
        return None
    if len(got) != len(ref):
        return f"{len(got)} outputs, expected {len(ref)}"
    tol = 2e-4 if dtype == "float32" else 1e-10
    for g, r in zip(got, ref):
        if g.size != r.size or np.squeeze(g).shape != np.squeeze(r).shape:
            return f"shape {g.shape}, expected {r.shape}"
        if g.dtype != r.dtype:
            return f"dtype {g.dtype}, expected {r.dtype}"
        scale = max(1.0, float(np.max(np.abs(r)))) if r.size else 1.0
        err = float(np.max(np.abs(g.astype(np.float64).reshape(r.shape) - r))) if r.size else 0.0
        if not err <= tol * scale:
            return f"max abs error {err:.3g} > {tol * scale:.3g}"
    return None


REFERENCE_LABELS = ("torch", "torch NCHW", "cyconv", "cyconv NCHW")  # first one present is the reference


class Harness:
    def __init__(self, threads, *, rounds, min_time, min_calls, warmup, log, case_budget=None, env=None,
                 log_dir=None):
        self.threads, self.rounds, self.min_time, self.min_calls, self.warmup = threads, rounds, min_time, \
            min_calls, warmup
        self.case_budget = case_budget
        self.log = log
        self.env = env or {}
        self.log_dir = log_dir
        self.workers, self.failed = {}, {}

    # -- workers --
    def start(self, libs):
        """Start the workers ``libs`` (at once) and wait until each has imported its library."""
        new = []
        for lib in libs:
            if lib in self.workers or lib in self.failed:
                continue
            try:
                self.workers[lib] = Worker(lib, self.threads, log_dir=self.log_dir, env=self.env.get(lib))
                self.log_dir = self.workers[lib].log_dir
                new.append(lib)
            except OSError as exc:
                self.failed[lib] = str(exc)
        for lib in new:
            try:
                self.workers[lib].ready()
            except WorkerDied as exc:
                self.failed[lib] = str(exc)
                del self.workers[lib]
                self.log(f"  {lib}: {exc}")

    def info(self):
        return {lib: w.info for lib, w in self.workers.items()}

    def _worker(self, label):
        lib = libraries.WORKER_OF[label]
        w = self.workers.get(lib)
        if w is not None and not w.alive():  # died on an earlier case: start a fresh one
            self.log(f"  restarting the {lib} worker")
            del self.workers[lib]
            self.start([lib])
            w = self.workers.get(lib)
        return w

    def close(self):
        for w in self.workers.values():
            w.close()
        self.workers.clear()

    # -- one case --
    def prepare(self, case, labels):
        """Build and check every contender; returns (ok labels, errors, skipped, wrong, reference source)."""
        self.start({libraries.WORKER_OF[lab] for lab in labels})
        errors, skipped, replies, sent = {}, {}, {}, []
        for lab in labels:
            w = self._worker(lab)
            if w is None:
                lib = libraries.WORKER_OF[lab]
                skipped[lab] = f"no {lib} worker ({self.failed.get(lib, '?')[:80]})"
                continue
            try:
                w.send("prepare", lab, case)
                sent.append((lab, w))
            except WorkerDied as exc:
                errors[lab] = str(exc)[:200]
        died = set()
        for lab, w in sent:
            if w in died:  # it died on an earlier label of this case: the later ones never ran
                errors[lab] = f"{w.lib} worker died on an earlier contender of this case"
                continue
            try:
                replies[lab] = w.recv(timeout=900)
            except WorkerDied as exc:
                errors[lab] = str(exc)[:200]
                died.add(w)
        ok = []
        for lab, rep in replies.items():
            if "skip" in rep:
                skipped[lab] = rep["skip"]
            elif "error" in rep:
                errors[lab] = rep["error"]
            else:
                ok.append(lab)
        ref, ref_src = None, None
        for lab in REFERENCE_LABELS:
            if lab in ok:
                ref = replies[lab]["reference"] or replies[lab]["outputs"]
                ref_src = lab + (" (autograd)" if replies[lab]["reference"] else "")
                break
        wrong = {}
        for lab in ok:
            why = compare(replies[lab]["outputs"], ref, case.dtype) if replies[lab]["outputs"] else None
            if why:
                wrong[lab] = why
        est = {lab: replies[lab]["call_s"] for lab in ok}
        return ok, errors, skipped, wrong, ref_src, est

    def rounds_for(self, est):
        """The rounds for a case: fewer (never under 3) where they would exceed the case budget."""
        per_round = sum(max(t, self.min_time) for t in est.values())
        if self.case_budget and per_round * self.rounds > self.case_budget:
            return max(min(3, self.rounds), int(self.case_budget // per_round))
        return self.rounds

    def sample_rounds(self, case, labels, est, rounds=None):
        """``rounds`` interleaved rounds of one sample per contender; label -> per-call times."""
        samples = {lab: [] for lab in labels}
        waits, calls, dead = [], {lab: [] for lab in labels}, {}
        rounds = self.rounds if rounds is None else rounds
        for r in range(rounds):
            live = [lab for lab in labels if lab not in dead]
            if not live:
                break
            k = r % len(live)
            for lab in live[k:] + live[:k]:
                w = self._worker(lab)
                others = [o for o in self.workers.values() if o is not w]
                waits.append(quiet(others))
                warm = self.warmup if est.get(lab, 0) <= 0.1 else 0.0
                try:
                    rep = w.call("time", lab, self.min_time, self.min_calls, warm,
                                 timeout=120 + 50 * max(est.get(lab, 1), self.min_time))
                except WorkerDied as exc:
                    dead[lab] = str(exc)[:200]
                    continue
                if "per_call_s" not in rep:
                    dead[lab] = rep.get("error", "failed")
                    continue
                samples[lab].append(rep["per_call_s"])
                calls[lab].append(rep["calls"])
        return samples, calls, waits, dead

    def drop(self, labels):
        for lib in {libraries.WORKER_OF[lab] for lab in labels}:
            w = self.workers.get(lib)
            if w is not None and w.alive():
                try:
                    w.call("drop", timeout=60)
                except WorkerDied:
                    pass

    def measure(self, case, labels=None):
        """Prepare, check and time one case; returns the raw row (see report.summarise)."""
        labels = list(labels or case.contenders)
        t0 = time.time()
        load = os.getloadavg()[0]
        ok, errors, skipped, wrong, ref_src, est = self.prepare(case, labels)
        quiet(list(self.workers.values()), timeout=1.0)
        rounds = self.rounds_for(est)
        samples, calls, waits, dead = self.sample_rounds(case, ok, est, rounds)
        errors.update(dead)
        self.drop(labels)
        return {
            "case": case, "rounds": rounds, "samples": {k: v for k, v in samples.items() if v}, "calls": calls,
            "errors": errors, "skipped": skipped, "wrong": wrong, "reference": ref_src,
            "quiet_wait_s": timer.stats(waits) if waits else None, "load_1min": load,
            "elapsed_s": time.time() - t0,
        }
