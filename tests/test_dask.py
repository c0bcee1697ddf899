"""cyconv.dask: every op on chunked dask arrays equals the in-memory function on the whole
array; metadata declared before computing; the threaded, process and distributed schedulers;
kernel threads per task; `import cyconv` never imports dask."""

import inspect
import os
import subprocess
import sys

import numpy as np
import pytest

import cyconv

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
cd = pytest.importorskip("cyconv.dask")

# batch, uneven, one chunk, chunks smaller than the halo
CHUNKS = [(1, -1, -1, -1), (2, -1, 5, 4), (-1, -1, -1, -1), (2, -1, 1, 2), (1, -1, 7, 1)]
CONV_GEOMS = [
    dict(),
    dict(padding=1),
    dict(padding=((2, 0), (1, 3)), stride=2),
    dict(stride=(3, 2), dilation=(2, 1), padding="same"),
    dict(padding="full", dilation=2),
    dict(padding=2, padding_mode="reflect"),
    dict(padding=((3, 1), (2, 2)), padding_mode="circular", stride=2),
    dict(padding=1, padding_mode="replicate", dilation=2),
    dict(groups=3, padding=1, stride=2),
]


def _compute(*arrays, scheduler="threads"):
    return dask.compute(*arrays, scheduler=scheduler)


def _check_blocks(y, result):
    """The declared chunks, shape and dtype are those of the computed blocks."""
    assert y.shape == result.shape and y.dtype == result.dtype
    offsets = [np.cumsum((0,) + c) for c in y.chunks]
    for idx in np.ndindex(*y.numblocks):
        block = result[tuple(slice(o[i], o[i + 1]) for o, i in zip(offsets, idx))]
        assert block.shape == tuple(c[i] for c, i in zip(y.chunks, idx))
    # the blocks themselves, computed one by one, have the declared shapes
    some = [y.blocks[idx] for idx in list(np.ndindex(*y.numblocks))[:3]]
    for blk, val in zip(some, dask.compute(*some, scheduler="sync")):
        assert val.shape == blk.shape and val.dtype == y.dtype


@pytest.fixture(scope="module")
def conv_data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 13, 11))
    w = rng.standard_normal((6, 3, 3, 4))
    b = rng.standard_normal(6)
    return x, w, b


@pytest.mark.parametrize("geom", CONV_GEOMS, ids=str)
@pytest.mark.parametrize("chunks", CHUNKS, ids=str)
def test_conv2d_and_backward(conv_data, geom, chunks):
    x, w, b = conv_data
    if geom.get("groups"):
        w = w[:, :1]
    xd = da.from_array(x, chunks=chunks)
    y = cd.conv2d(xd, w, b, **geom)
    ref = cyconv.conv2d(x, w, b, **geom)
    (got,) = _compute(y)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)
    _check_blocks(y, got)
    g = np.random.default_rng(1).standard_normal(ref.shape)
    r = cd.conv2d_backward(da.from_array(g, chunks=(1, 2, 3, 5)), xd, w, **geom)
    expect = cyconv.conv2d_backward(g, x, w, **geom)
    got = _compute(*r)
    for a, e in zip(got, expect):
        np.testing.assert_allclose(a, e, rtol=1e-11, atol=1e-11)
    assert r.input.chunks == xd.chunks  # one channel chunk already
    assert r.weight.chunks == tuple((n,) for n in w.shape) and r.bias.chunks == ((6,),)


def test_conv2d_metadata_without_computing():
    def boom(block):
        raise AssertionError("computed")

    x = da.zeros((4, 3, 20, 20), chunks=(2, 3, 7, 6), dtype=np.float32).map_blocks(boom, dtype=np.float32)
    y = cd.conv2d(x, np.ones((5, 3, 3, 3), np.float32), padding=1, stride=2)
    assert y.dtype == np.float32 and y.shape == (4, 5, 10, 10)
    # output o goes with the chunk holding cell 2*o: rows [0, 7), [7, 14), [14, 20) get 4, 3, 3
    assert y.chunks == ((2, 2), (5,), (4, 3, 3), (3, 3, 3, 1))
    r = cd.conv2d_backward(da.zeros(y.shape, chunks=3), x, np.ones((5, 3, 3, 3)), padding=1, stride=2)
    assert r.input.dtype == np.float64 and r.input.chunks == x.chunks
    with pytest.raises(AssertionError, match="computed"):
        y.compute(scheduler="sync")


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int32])
def test_dtypes(dtype):
    x = np.arange(2 * 2 * 9 * 9).reshape(2, 2, 9, 9).astype(dtype) % 5
    w = np.ones((3, 2, 2, 2), np.float32)
    y = cd.conv2d(da.from_array(x, chunks=(1, 2, 4, 5)), w, padding=1)
    ref = cyconv.conv2d(x, w, padding=1)
    assert y.dtype == ref.dtype
    np.testing.assert_allclose(y.compute().astype(np.float64), ref.astype(np.float64), rtol=1e-3)
    m = cd.max_pool2d(da.from_array(x, chunks=(1, 1, 4, 5)), 2)
    assert m.dtype == dtype
    np.testing.assert_array_equal(m.compute(), cyconv.max_pool2d(x, 2))


def test_conv2d_unbatched_dask_weight_and_nhwc(conv_data):
    x, w, b = conv_data
    y = cd.conv2d(da.from_array(x[0], chunks=(3, 4, 5)), da.from_array(w, chunks=2), da.from_array(b),
                  padding=1)
    np.testing.assert_allclose(y.compute(), cyconv.conv2d(x[0], w, b, padding=1), rtol=1e-12)
    xh = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    for geom in CONV_GEOMS[:4]:
        yh = cd.conv2d(da.from_array(xh, chunks=(2, 5, 4, 3)), w, b, layout="NHWC", **geom)
        ref = cyconv.conv2d(x, w, b, **geom).transpose(0, 2, 3, 1)
        assert yh.shape == ref.shape
        np.testing.assert_allclose(yh.compute(), ref, rtol=1e-12, atol=1e-12)
        g = np.random.default_rng(2).standard_normal(ref.shape)
        r = cd.conv2d_backward(da.from_array(g, chunks=3), da.from_array(xh, chunks=(2, 5, 4, 3)), w,
                               layout="NHWC", **geom)
        e = cyconv.conv2d_backward(np.ascontiguousarray(g.transpose(0, 3, 1, 2)), x, w, **geom)
        np.testing.assert_allclose(r.input.compute(), e.input.transpose(0, 2, 3, 1), rtol=1e-11, atol=1e-11)
        np.testing.assert_allclose(r.weight.compute(), e.weight, rtol=1e-11, atol=1e-11)


def test_backward_compute_subsets(conv_data):
    x, w, _ = conv_data
    xd = da.from_array(x, chunks=(2, 3, 5, 5))
    g = np.ones(cyconv.conv2d(x, w).shape)
    r = cd.conv2d_backward(g, xd, w, compute=("weight",))
    assert r.input is None and r.bias is None
    np.testing.assert_allclose(r.weight.compute(), cyconv.conv2d_backward(g, x, w).weight, rtol=1e-12)
    r = cd.conv2d_backward(g, xd, w, compute="bias")
    assert r.input is None and r.weight is None
    np.testing.assert_allclose(r.bias.compute(), g.sum(axis=(0, 2, 3)))


PLANE_GEOMS = [
    dict(padding="same", padding_mode="reflect"),
    dict(padding=((4, 1), (0, 3)), stride=2, padding_mode="circular"),
    dict(dilation=2, padding="full"),
    dict(stride=(2, 3), padding=2, padding_mode="symmetric"),
    dict(padding=1, padding_mode="replicate"),
]


@pytest.mark.parametrize("geom", PLANE_GEOMS, ids=str)
@pytest.mark.parametrize("chunks", [(1, 7, 6), (2, 3, 2), (-1, -1, -1), (1, 1, 23)], ids=str)
@pytest.mark.parametrize("name", ["correlate2d", "convolve2d"])
def test_plane_convolutions(geom, chunks, name):
    if geom.get("padding_mode") == "symmetric":
        try:
            cyconv.correlate2d(np.ones((3, 3)), np.ones((2, 2)), padding=1, padding_mode="symmetric")
        except ValueError:
            pytest.skip("this cyconv has no 'symmetric' padding mode yet")
    rng = np.random.default_rng(3)
    img = rng.standard_normal((2, 29, 23))
    k = rng.standard_normal((5, 4))
    y = getattr(cd, name)(da.from_array(img, chunks=chunks), k, **geom)
    ref = getattr(cyconv, name)(img, k, **geom)
    (got,) = _compute(y, scheduler="sync")
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)
    _check_blocks(y, got)


POOL_GEOMS = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=(3, 2), stride=(2, 3), padding=((1, 0), (1, 1)), ceil_mode=True),
    dict(kernel_size=3, dilation=2, padding=2, stride=2),
    dict(kernel_size=(4, 3), stride=3, padding=(2, 1), ceil_mode=True),
    dict(kernel_size=5, stride=1, padding=2),
]


@pytest.mark.parametrize("geom", POOL_GEOMS, ids=str)
@pytest.mark.parametrize("chunks", [(2, 1, 5, 4), (-1, -1, -1, -1), (1, 2, 2, 3), (2, 2, 2, 1)], ids=str)
def test_pools(geom, chunks):
    rng = np.random.default_rng(4)
    x = rng.integers(0, 5, (2, 2, 13, 11)).astype(np.float64)  # ties
    x[0, 0, 3, 4] = np.nan
    xd = da.from_array(x, chunks=chunks)
    geom = dict(geom)
    k = geom.pop("kernel_size")
    v, i = cd.max_pool2d(xd, k, return_indices=True, **geom)
    rv, ri = cyconv.max_pool2d(x, k, return_indices=True, **geom)
    gv, gi = _compute(v, i, scheduler="sync")
    np.testing.assert_array_equal(gv, rv)
    np.testing.assert_array_equal(gi, ri)
    assert i.dtype == np.int64 and v.chunks == i.chunks
    _check_blocks(v, gv)
    np.testing.assert_array_equal(cd.max_pool2d(xd, k, **geom).compute(scheduler="sync"), rv)
    if "dilation" not in geom:
        for cip in (True, False):
            for div in (None, 7):
                a = cd.avg_pool2d(xd, k, count_include_pad=cip, divisor_override=div, **geom)
                ra = cyconv.avg_pool2d(x, k, count_include_pad=cip, divisor_override=div, **geom)
                (ga,) = _compute(a, scheduler="sync")
                np.testing.assert_allclose(ga, ra, rtol=1e-13)
                _check_blocks(a, ga)


def test_pool_axes_when_supported():
    if "axes" not in inspect.signature(cyconv.max_pool2d).parameters:
        pytest.skip("this cyconv's pools have no axes= yet")
    rgb = np.random.default_rng(5).integers(0, 255, (30, 26, 3)).astype(np.uint8)
    xd = da.from_array(rgb, chunks=(7, 5, 3))
    v, i = cd.max_pool2d(xd, 3, stride=2, padding=1, axes=(0, 1), return_indices=True)
    rv, ri = cyconv.max_pool2d(rgb, 3, stride=2, padding=1, axes=(0, 1), return_indices=True)
    np.testing.assert_array_equal(v.compute(), rv)
    np.testing.assert_array_equal(i.compute(), ri)


ERRORS = [
    (lambda: cd.conv2d(np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2))), TypeError, "dask.array.Array"),
    (lambda: cd.conv2d(da.ones((1, 1, 4, 4)), np.ones((1, 1, 5, 5))), ValueError, r"floor\(\(4 - 5"),
    (lambda: cd.conv2d(da.ones((1, 1, 4, 4)), np.ones((1, 2, 2, 2))), ValueError, "channels"),
    (lambda: cd.conv2d(da.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2)), padding_mode="wrap"), ValueError,
     "padding_mode"),
    (lambda: cd.conv2d(da.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2)), layout="nchw"), ValueError, "upper case"),
    (lambda: cd.conv2d(da.ones((4, 4)), np.ones((1, 1, 2, 2))), ValueError, "3 or 4 dimensions"),
    (lambda: cd.conv2d(da.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2)), stride=1.5), TypeError, "stride"),
    (lambda: cd.conv2d_backward(da.ones((1, 1, 2, 2)), da.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2))),
     ValueError, "forward output shape"),
    (lambda: cd.max_pool2d(da.ones((4, 4)), 5), ValueError, "output height"),
    (lambda: cd.max_pool2d(da.ones((4, 4)), 2, return_indices=1), TypeError, "bool"),
    (lambda: cd.max_pool2d(da.ones((4, 4)), 2, ceil_mode=1), TypeError, "ceil_mode"),
    (lambda: cd.avg_pool2d(da.ones((4, 4)), 2, ceil_mode="yes"), TypeError, "ceil_mode"),
    (lambda: cd.avg_pool2d(da.ones((4, 4)), 2, count_include_pad=None), TypeError, "count_include_pad"),
    (lambda: cd.max_pool2d(da.ones((4, 4)), 2, axes=(0, 0)), ValueError, "two different axes"),
    (lambda: cd.max_pool2d(da.ones((4, 4)), 2, axes=(0, 2)), ValueError, "out of range"),
    (lambda: cd.avg_pool2d(da.ones((4, 4)), 2, divisor_override=0), ValueError, "divisor_override"),
    (lambda: cd.correlate2d(da.ones((4, 4)), np.ones((2, 2, 2))), ValueError, "2-D"),
    (lambda: cd.correlate2d(da.ones(4), np.ones((2, 2))), ValueError, "at least 2 dimensions"),
]


@pytest.mark.parametrize("call, exc, match", ERRORS)
def test_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_unknown_chunks_are_refused():
    x = da.ones((4, 4), chunks=2)
    x = x[x[:, 0] > 0]  # unknown row chunks
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        cd.max_pool2d(x, 2)


# ---------------------------------------------------------------------------------------
# Threads per task


def _threads_in_task(block):
    """Kernel threads inside a cyconv.dask task, and after it (restored)."""
    before = cyconv.get_num_threads()
    inside = cd._in_task(cyconv.get_num_threads)
    return np.array([[inside, cyconv.get_num_threads() == before]])


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count()


def _probe(scheduler, n_blocks=4):
    x = da.zeros((n_blocks, 1), chunks=1)
    out = x.map_blocks(_threads_in_task, dtype=np.int64, chunks=(1, 2))
    return out.compute(scheduler=scheduler)


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_threaded_scheduler_threads(workers):
    with dask.config.set(num_workers=workers):
        res = _probe("threads")
    assert (res[:, 0] * workers <= max(_cores(), workers)).all()
    assert (res[:, 0] == min(cyconv.get_num_threads(), max(1, _cores() // workers))).all()
    assert res[:, 1].all()


def test_synchronous_scheduler_keeps_the_threads():
    res = _probe("sync")
    assert (res[:, 0] == cyconv.get_num_threads()).all()


def test_default_threaded_pool_one_thread_per_core():
    res = _probe("threads")
    assert (res[:, 0] * dask.system.CPU_COUNT <= max(_cores(), dask.system.CPU_COUNT)).all()


@pytest.mark.slow
def test_process_scheduler():
    with dask.config.set(num_workers=2):
        res = _probe("processes", 2)
        assert (res[:, 0] * 2 <= max(2, _cores())).all()
        x = np.random.default_rng(6).standard_normal((2, 2, 11, 9))
        y = cd.conv2d(da.from_array(x, chunks=(1, 2, 5, 4)), np.ones((2, 2, 3, 3)), padding=1)
        np.testing.assert_allclose(y.compute(scheduler="processes"), cyconv.conv2d(x, np.ones((2, 2, 3, 3)),
                                                                                   padding=1), rtol=1e-12)


# ---------------------------------------------------------------------------------------
# A real dask.distributed cluster: 2 worker processes, 1 thread each


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=50)
    c = distributed.Client(cluster, timeout=120)
    try:
        c.wait_for_workers(2, timeout=120)
        yield c
    finally:
        c.close(timeout=60)
        cluster.close(timeout=60)


def test_local_cluster_results(client):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 3, 21, 18)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    xd = da.from_array(x, chunks=(2, 3, 8, 7))
    geom = dict(padding=((2, 1), (1, 0)), stride=2, padding_mode="reflect")
    y = cd.conv2d(xd, w, **geom)
    v, i = cd.max_pool2d(xd, 3, stride=2, padding=1, return_indices=True)
    g = rng.standard_normal(y.shape).astype(np.float32)
    r = cd.conv2d_backward(da.from_array(g, chunks=2), xd, w, **geom)
    futures = client.compute([y, v, i, *r])
    got = client.gather(futures)
    np.testing.assert_allclose(got[0], cyconv.conv2d(x, w, **geom), rtol=2e-5, atol=2e-5)
    rv, ri = cyconv.max_pool2d(x, 3, stride=2, padding=1, return_indices=True)
    np.testing.assert_array_equal(got[1], rv)
    np.testing.assert_array_equal(got[2], ri)
    e = cyconv.conv2d_backward(g, x, w, **geom)
    for a, b in zip(got[3:], e):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_local_cluster_threads(client):
    res = client.compute(_probe_array()).result(timeout=120)
    cores = _cores()
    total = sum(client.nthreads().values())  # 2 workers x 1 thread, both on this machine
    assert (res[:, 0] * total <= max(cores, total)).all()
    assert res[:, 1].all()


def _probe_array():
    x = da.zeros((4, 1), chunks=1)
    return x.map_blocks(_threads_in_task, dtype=np.int64, chunks=(1, 2))


# ---------------------------------------------------------------------------------------


def test_import_cyconv_does_not_import_dask():
    code = ("import sys, numpy as np, cyconv; cyconv.conv2d(np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2))); "
            "assert not any(m == 'dask' or m.startswith('dask.') or m == 'distributed' for m in sys.modules), "
            "sorted(m for m in sys.modules if 'dask' in m)")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    code = "import sys, cyconv.dask; assert 'dask.array' in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def _random_chunks(rng, n):
    cuts = np.sort(rng.choice(np.arange(1, n), size=int(rng.integers(0, min(4, n - 1) + 1)), replace=False))
    return tuple(int(v) for v in np.diff(np.concatenate(([0], cuts, [n]))))


@pytest.mark.parametrize("seed", range(12))
def test_random_geometries(seed):
    """Random sizes, kernels, strides, dilations, asymmetric paddings, modes and chunks."""
    rng = np.random.default_rng(100 + seed)
    H, W = (int(v) for v in rng.integers(3, 16, 2))
    k = tuple(int(v) for v in rng.integers(1, 5, 2))
    s = tuple(int(v) for v in rng.integers(1, 4, 2))
    d = tuple(int(v) for v in rng.integers(1, 3, 2))
    pads = tuple(tuple(int(v) for v in rng.integers(0, 4, 2)) for _ in range(2))
    mode = ["zeros", "reflect", "replicate", "circular"][seed % 4]
    if mode == "reflect":
        pads = tuple(tuple(min(p, n - 1) for p in pair) for pair, n in zip(pads, (H, W)))
    if mode == "circular":
        pads = tuple(tuple(min(p, n) for p in pair) for pair, n in zip(pads, (H, W)))
    geom = dict(stride=s, dilation=d, padding=pads, padding_mode=mode)
    x = rng.standard_normal((2, 2, H, W))
    w = rng.standard_normal((3, 2) + k)
    try:
        ref = cyconv.conv2d(x, w, **geom)
    except ValueError:
        pytest.skip("geometry the in-memory function refuses")
    chunks = ((1, 1), (2,), _random_chunks(rng, H), _random_chunks(rng, W))
    xd = da.from_array(x, chunks=chunks)
    y = cd.conv2d(xd, w, **geom)
    (got,) = _compute(y, scheduler="sync")
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)
    _check_blocks(y, got)
    g = rng.standard_normal(ref.shape)
    r = cd.conv2d_backward(g, xd, w, **geom)
    for a, e in zip(_compute(*r, scheduler="sync"), cyconv.conv2d_backward(g, x, w, **geom)):
        np.testing.assert_allclose(a, e, rtol=1e-11, atol=1e-11)
    # pooling on the same chunks (pools pad at most half the window, and only with zeros)
    pk = tuple(max(2, kk) for kk in k)
    pp = tuple(tuple(min(p, (dd * (kk - 1) + 1) // 2) for p in pair) for pair, kk, dd in zip(pads, pk, d))
    cm = bool(seed % 2)
    try:
        rv, ri = cyconv.max_pool2d(x, pk, stride=s, padding=pp, dilation=d, ceil_mode=cm, return_indices=True)
    except ValueError:
        return
    v, i = cd.max_pool2d(xd, pk, stride=s, padding=pp, dilation=d, ceil_mode=cm, return_indices=True)
    gv, gi = _compute(v, i, scheduler="sync")
    np.testing.assert_array_equal(gv, rv)
    np.testing.assert_array_equal(gi, ri)


@pytest.mark.parametrize("mode", ["reflect", "circular", "replicate"])
def test_mode_padding_beyond_the_input_as_in_memory(mode):
    """Where the in-memory function refuses a mode padding, cyconv.dask refuses it when the
    graph is built; where it accepts it (SPEC: numpy.pad semantics for any size), the
    chunked result equals it."""
    x = np.arange(2 * 1 * 3 * 4, dtype=np.float64).reshape(2, 1, 3, 4)
    w = np.ones((1, 1, 2, 2))
    geom = dict(padding=((4, 1), (0, 5)), padding_mode=mode)
    try:
        ref = cyconv.conv2d(x, w, **geom)
    except ValueError as e:
        for chunks in [(1, 1, 3, 4), (1, 1, 1, 2)]:
            with pytest.raises(ValueError, match=str(e).split(" got")[0].replace("(", r"\(").replace(")", r"\)")):
                cd.conv2d(da.from_array(x, chunks=chunks), w, **geom)
        return
    for chunks in [(1, 1, 3, 4), (1, 1, 1, 2)]:
        np.testing.assert_allclose(cd.conv2d(da.from_array(x, chunks=chunks), w, **geom).compute(), ref)


def test_empty_spatial_axis_as_in_memory():
    """SPEC: an empty spatial axis is valid when the padding gives outputs; cyconv.dask does
    what the in-memory function does (refuses up front, or computes the same)."""
    x = np.ones((2, 1, 0, 5))
    w = np.ones((1, 1, 2, 2))
    try:
        ref = cyconv.conv2d(x, w, padding=2)
    except ValueError:
        with pytest.raises(ValueError):
            cd.conv2d(da.from_array(x, chunks=(1, 1, 0, 2)), w, padding=2)
        return
    y = cd.conv2d(da.from_array(x, chunks=(1, 1, 0, 2)), w, padding=2)
    assert y.shape == ref.shape
    np.testing.assert_allclose(y.compute(), ref)
