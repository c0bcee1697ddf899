"""The benchmark harness imports, lists its cases, and its bookkeeping is right.

Nothing here times anything (speed goals live in benchmarks/, never in tests): these checks
only guard against a harness that no longer starts or that mislabels what it measures.
"""

import pathlib
import subprocess
import sys

import pytest

import cyconv

BENCH = pathlib.Path(__file__).resolve().parent.parent / "benchmarks"

pytestmark = pytest.mark.skipif(not (BENCH / "run.py").exists(),
                                reason="benchmarks/ not beside the tests (installed-wheel run)")


@pytest.fixture(scope="module")
def bench_modules():
    sys.path.insert(0, str(BENCH))
    try:
        import cases
        import targets

        yield cases, targets
    finally:
        sys.path.remove(str(BENCH))


def test_list_runs_without_timing_anything():
    out = subprocess.run([sys.executable, str(BENCH / "run.py"), "--list"], capture_output=True, text=True,
                         timeout=60, check=True).stdout.split()
    assert len(out) == len(set(out))
    for case_id in ("conv2d/resnet/float32", "conv2d_backward/vgg128/float64", "nhwc/resnet/float32",
                    "dask/resnet-b16/float32", "load/resnet/float32", "crosscheck/resnet/float32", "imports"):
        assert case_id in out


def test_case_shapes_agree_with_cyconv(bench_modules):
    cases, _ = bench_modules
    for c in cases.CONVS + [cases.DASK_CONV]:
        expected = cyconv.conv2d_output_shape(c.x, c.w, stride=c.stride, padding=c.padding, dilation=c.dilation,
                                              groups=c.groups)
        assert c.out_shape == tuple(expected), c.name
        g, m, n, k = c.gemm
        assert 2.0 * g * m * n * k == c.flops, c.name  # the roof's GEMM does the conv's work


def test_targets_say_met_and_missed(bench_modules):
    cases, targets = bench_modules
    row = {"id": "conv2d/resnet/float32", "section": "conv2d", "case": "resnet", "dtype": "float32",
           "spec": {"gemm_bound": True, "is_1x1": False}, "ratios": {"torch": 1.2}, "fraction_of_roof": 0.9,
           "wrong": {}}
    by_text = {e["target"]: e for e in targets.check([row])}
    ratio = next(e for t, e in by_text.items() if t.startswith("float32 forward: cyconv/PyTorch"))
    roof = next(e for t, e in by_text.items() if t.startswith("float32 forward, GEMM-bound"))
    assert (ratio["met"], ratio["missed"], targets.verdict(ratio)) == (0, 1, "MISSED")
    assert (roof["met"], roof["missed"], targets.verdict(roof)) == (1, 0, "met")
    row["wrong"] = {"cyconv": "max abs error 1 > 1e-4"}  # a wrong result meets no target
    roof = next(e for e in targets.check([row]) if e["target"].startswith("float32 forward, GEMM-bound"))
    assert roof["missed"] == 1


def test_a_forced_kernel_build_is_checked_against_show_config(bench_modules, monkeypatch):
    import libraries

    def config(*lines):
        features = {"nhwc": False, "nhwc_backward": False, "dask": False, "config": list(lines)}
        monkeypatch.setattr(libraries, "cyconv_features", lambda: features)

    config("cyconv:      0.2.0", "kernels:     portable (float32 4x8, float64 4x4)")
    libraries._check_forced("portable")
    with pytest.raises(libraries.Skip, match="not in use"):
        libraries._check_forced("avx2")
    config("cyconv:      0.1.0", "build type:  Release")  # before the engine: only portable can be forced
    libraries._check_forced("portable")
    with pytest.raises(libraries.Skip, match="names no kernel build"):
        libraries._check_forced("avx2")
