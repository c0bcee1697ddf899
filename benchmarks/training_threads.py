"""The training loop with the default threads against one thread (issue 11).

    python benchmarks/training_threads.py [--repeats 5] [--busy]

Times, side by side in one process and alternating, (a) the README's loop (10 SGD steps
on a batch of 32 8x8 images), (b) one epoch of the demo's LeNet and (c) one epoch of the
demo's small ResNet, each with the default thread settings and with everything on one
thread (``cyconv.set_num_threads(1)`` and threadpoolctl's BLAS limit). ``--busy`` runs one
CPU-burning process beside them. Prints medians, min-max and the ratio default / one
thread; the targets are <= 1.2 on an idle machine and <= 2.5 beside one busy process.
Needs scikit-learn and threadpoolctl (the demo's extras).
"""

import argparse
import contextlib
import io
import os
import statistics
import subprocess
import sys
import time

import numpy as np

import cyconv
from cyconv import demo, nn


def readme_loop():
    rng = np.random.default_rng(0)
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(256, 128, rng=rng), nn.ReLU(), nn.Linear(128, 10, rng=rng),
    )
    opt = nn.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    x = rng.standard_normal((32, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 10, 32)
    for _ in range(10):
        loss, grad = nn.cross_entropy(model(x), y)
        opt.zero_grad()
        model.backward(grad, input_grad=False)
        opt.step()


def lenet_epoch():
    demo.train_digits(seed=0, epochs=1, file=io.StringIO())


def resnet_epoch():
    demo.train_resnet(seed=0, epochs=1, file=io.StringIO())


@contextlib.contextmanager
def one_thread():
    from threadpoolctl import threadpool_limits

    threads = cyconv.get_num_threads()
    cyconv.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        cyconv.set_num_threads(threads)


def measure(work, repeats):
    work()  # warm up (imports, first allocations)
    default, single = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        work()
        default.append(time.perf_counter() - t)
        with one_thread():
            t = time.perf_counter()
            work()
            single.append(time.perf_counter() - t)
    return default, single


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--busy", action="store_true", help="run one CPU-burning process beside")
    args = parser.parse_args(argv)
    burner = None
    if args.busy:
        burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        print(f"load average {os.getloadavg()}, cyconv threads {cyconv.get_num_threads()}, "
              f"busy process: {'yes' if burner else 'no'}")
        for name, work in (("README loop (10 steps)", readme_loop), ("demo LeNet, 1 epoch", lenet_epoch),
                           ("demo ResNet, 1 epoch", resnet_epoch)):
            default, single = measure(work, args.repeats)
            md, ms = statistics.median(default), statistics.median(single)
            print(f"{name:24s} default {md * 1e3:8.1f} ms [{min(default) * 1e3:.1f}-{max(default) * 1e3:.1f}]"
                  f"   one thread {ms * 1e3:8.1f} ms [{min(single) * 1e3:.1f}-{max(single) * 1e3:.1f}]"
                  f"   ratio {md / ms:5.2f}")
    finally:
        if burner is not None:
            burner.kill()
            burner.wait()
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
