"""How each contender computes a case: the zero-argument callable that is timed.

Runs inside a library's worker process (``worker.py``), which imports only its own library.
``build(label, case)`` returns a ``Built``: ``fn`` (timed; returns the result) and
``canonical(result)`` (not timed: the result as a tuple of NCHW NumPy arrays, so that every
contender is checked against PyTorch's result in the same form).

Contenders, by label (the worker process that runs each is ``WORKER_OF[label]``):

* ``cyconv``: the public functions (``conv2d``, ``conv2d_backward`` with
  compute=input+weight+bias, the pools, ``correlate2d``); ``cyconv NHWC`` passes
  ``layout='NHWC'`` on NHWC arrays; ``cyconv.dask`` runs ``cyconv.dask`` on a dask array chunked
  along N with the threaded scheduler; ``cyconv portable`` / ``cyconv avx2`` are the same call in
  a worker that forced that kernel build (``worker.BUILD_ENV``).
* ``cyconv 1 thread``: a cyconv worker with one thread (cyconv and BLAS), for the training step
  of the README's / demo's network (``train`` row), against the default thread count.
* ``torch``: ``torch.nn.functional`` forward on ``torch.from_numpy`` tensors (no grad); backward =
  the ATen operator autograd dispatches to (``aten.convolution_backward`` with output mask
  input+weight+bias, ``max_pool2d_with_indices_backward``, ``avg_pool2d_backward``). Its check
  reference is a real ``Tensor.backward()`` through autograd. ``torch channels_last`` uses
  ``memory_format=torch.channels_last`` input and weight.
* ``onnxruntime``: a one-node model (Conv; for backward ConvTranspose for the input gradient,
  Transpose+Conv+Slice+Transpose for the weight gradient, ReduceSum for the bias) built with the
  ``onnx`` helper API, weights as initializers, ``intra_op_num_threads=T, inter_op_num_threads=1``.
* ``jax``: ``jax.jit`` of ``lax.conv_general_dilated`` (+ bias); backward = ``jit`` of ``jax.vjp``
  for input, weight and bias; inputs placed on the device once, ``block_until_ready`` timed.
* ``matmul`` (the roof): NumPy ``matmul`` of the case's equivalent GEMM, (M, K) @ (K, N) per group
  (forward), or the input-gradient and weight-gradient products (backward), same dtype.
* ``copy`` (the roof): ``np.copyto`` of the pooling input, one slab per thread on T threads.
* ``scipy`` / ``numpy``: ``scipy.signal.correlate2d`` and ``sliding_window_view`` + ``einsum``
  for single planes.
"""

import inspect
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import numpy as np

from cases import DASK_CHUNK, Conv, Plane, Pool, Train, arrays

WORKER_OF = {
    "cyconv": "cyconv", "cyconv NHWC": "cyconv", "cyconv NCHW": "cyconv", "cyconv.dask": "cyconv",
    "cyconv portable": "cyconv-portable", "cyconv avx2": "cyconv-avx2", "cyconv 1 thread": "cyconv-1t",
    "torch": "torch", "torch channels_last": "torch", "torch NCHW": "torch",
    "onnxruntime": "onnxruntime", "jax": "jax",
    "matmul": "numpy", "copy": "numpy", "scipy": "numpy", "numpy": "numpy",
}


class Skip(Exception):
    """This contender cannot run this case here (missing feature, unsupported dtype); says why."""


@dataclass
class Built:
    fn: Callable[[], object]
    canonical: Callable[[object], tuple]
    reference: tuple = None  # PyTorch only: autograd's result, the check's reference


def _tuple(result):
    """Arrays (NumPy, tensors, jax arrays) of a result, None members dropped."""
    if not isinstance(result, (tuple, list)):
        result = (result,)
    out = []
    for r in result:
        if r is None:
            continue
        if hasattr(r, "detach"):  # torch.Tensor
            r = r.detach().contiguous().numpy()
        out.append(np.ascontiguousarray(np.asarray(r)))
    return tuple(out)


def _nhwc(a):
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1))


def _from_nhwc(result):
    """NCHW view of an NHWC 4-D result (weight and bias gradients keep their layout)."""
    return tuple(np.ascontiguousarray(a.transpose(0, 3, 1, 2)) if a.ndim == 4 and i == 0 else a
                 for i, a in enumerate(_tuple(result)))


def build(label, case, threads):
    lib = WORKER_OF[label]
    maker = {"cyconv": _cyconv, "cyconv-portable": _cyconv, "cyconv-avx2": _cyconv, "cyconv-1t": _cyconv,
             "torch": _torch,
             "onnxruntime": _onnxruntime, "jax": _jax, "numpy": _numpy}[lib]
    return maker(label, case, arrays(case), threads)


# --- cyconv -------------------------------------------------------------------------------


def cyconv_features():
    """What today's cyconv offers: NHWC layout, cyconv.dask, and the config it prints."""
    import importlib.util
    import io

    import cyconv

    buf = io.StringIO()
    cyconv.show_config(file=buf)
    try:
        has_dask = importlib.util.find_spec("cyconv.dask") is not None
    except (ImportError, ValueError):
        has_dask = False
    return {
        "nhwc": "layout" in inspect.signature(cyconv.conv2d).parameters,
        "nhwc_backward": "layout" in inspect.signature(cyconv.conv2d_backward).parameters,
        "dask": has_dask,
        "config": buf.getvalue().splitlines(),
    }


def _check_forced(build):
    """Skip unless show_config names the forced kernel build (pre-engine: only 'portable' forces)."""
    lines = [ln for ln in cyconv_features()["config"] if ln.lower().startswith("kernels")]
    if not lines:
        if build != "portable":
            raise Skip(f"this cyconv has no CYCONV_KERNELS={build} (show_config names no kernel build)")
        return
    if build not in lines[0].lower():
        raise Skip(f"CYCONV_KERNELS={build} not in use: show_config says {lines[0].split(':', 1)[1].strip()!r}")


def _train_step(a):
    """The README's loop body on the demo's network: forward, loss, zero_grad, backward, SGD step."""
    from cyconv import demo, nn

    model = demo.lenet(np.random.default_rng(0))
    opt = nn.SGD(model.parameters(), lr=demo.LR, momentum=demo.MOMENTUM, weight_decay=demo.WEIGHT_DECAY)
    y = a.extra["labels"]

    def step():
        loss, grad = nn.cross_entropy(model(a.x), y)
        opt.zero_grad()
        model.backward(grad, input_grad=False)
        opt.step()
        return loss
    return Built(step, lambda r: None)


def _cyconv(label, case, a, threads):
    import cyconv

    s = case.spec
    if label in ("cyconv portable", "cyconv avx2"):
        _check_forced(label.split()[1])
    if isinstance(s, Train):
        return _train_step(a)
    if isinstance(s, Plane):
        return Built(lambda: cyconv.correlate2d(a.x, a.w), _tuple)
    if isinstance(s, Pool):
        if not case.backward:
            if s.kind == "max":
                return Built(lambda: cyconv.max_pool2d(a.x, s.kernel, stride=s.stride), _tuple)
            return Built(lambda: cyconv.avg_pool2d(a.x, s.kernel, stride=s.stride, padding=s.padding), _tuple)
        if s.kind == "max":
            _, idx = cyconv.max_pool2d(a.x, s.kernel, stride=s.stride, return_indices=True)
            return Built(lambda: cyconv.max_pool2d_backward(a.go, idx, a.x.shape), _tuple)
        return Built(lambda: cyconv.avg_pool2d_backward(a.go, a.x.shape, s.kernel, stride=s.stride,
                                                         padding=s.padding), _tuple)
    opts = dict(stride=s.stride, padding=s.padding, dilation=s.dilation, groups=s.groups)
    compute = ("input", "weight", "bias") if s.bias else ("input", "weight")
    if label == "cyconv NHWC":
        fn_name = "conv2d_backward" if case.backward else "conv2d"
        if not cyconv_features()["nhwc_backward" if case.backward else "nhwc"]:
            raise Skip(f"cyconv.{fn_name} has no layout= on this branch")
        xn = _nhwc(a.x)
        if case.backward:
            gon = _nhwc(a.go)
            return Built(lambda: tuple(cyconv.conv2d_backward(gon, xn, a.w, layout="NHWC", compute=compute, **opts)),
                         _from_nhwc)
        return Built(lambda: cyconv.conv2d(xn, a.w, a.b, layout="NHWC", **opts), _from_nhwc)
    if label == "cyconv.dask":
        if not cyconv_features()["dask"]:
            raise Skip("no cyconv.dask on this branch")
        import dask
        import dask.array as da

        import cyconv.dask as cd

        chunks = (DASK_CHUNK, -1, -1, -1)
        dx = da.from_array(a.x, chunks=chunks)
        if case.backward:
            if not hasattr(cd, "conv2d_backward"):
                raise Skip("cyconv.dask has no conv2d_backward")
            dgo = da.from_array(a.go, chunks=chunks)

            def fn():
                r = cd.conv2d_backward(dgo, dx, a.w, compute=compute, **opts)
                return dask.compute(*[m for m in r if m is not None], scheduler="threads")
            return Built(fn, _tuple)
        return Built(lambda: cd.conv2d(dx, a.w, a.b, **opts).compute(scheduler="threads"), _tuple)
    if case.backward:
        return Built(lambda: tuple(cyconv.conv2d_backward(a.go, a.x, a.w, compute=compute, **opts)), _tuple)
    return Built(lambda: cyconv.conv2d(a.x, a.w, a.b, **opts), _tuple)


# --- PyTorch ------------------------------------------------------------------------------


def _torch(label, case, a, threads):
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy
    s = case.spec
    if isinstance(s, Plane):
        tx, tk = t(a.x).reshape(1, 1, *a.x.shape), t(a.w).reshape(1, 1, *a.w.shape)
        return Built(lambda: F.conv2d(tx, tk)[0, 0], _tuple)
    if isinstance(s, Pool):
        tx = t(a.x)
        k, st, p = s.kernel, s.stride, s.padding
        if s.kind == "max":
            fwd = lambda inp: F.max_pool2d(inp, k, st, p)  # noqa: E731
        else:
            fwd = lambda inp: F.avg_pool2d(inp, k, st, p)  # noqa: E731
        if not case.backward:
            return Built(lambda: fwd(tx), _tuple)
        tgo = t(a.go)
        if s.kind == "max":
            _, tidx = F.max_pool2d(tx, k, st, p, return_indices=True)
            fn = lambda: torch.ops.aten.max_pool2d_with_indices_backward(  # noqa: E731
                tgo, tx, [k, k], [st, st], [p, p], [1, 1], False, tidx)
        else:
            fn = lambda: torch.ops.aten.avg_pool2d_backward(  # noqa: E731
                tgo, tx, [k, k], [st, st], [p, p], False, True, None)
        ax = tx.clone().requires_grad_()
        fwd(ax).backward(tgo)
        return Built(fn, _tuple, _tuple(ax.grad))
    fmt = torch.channels_last if label == "torch channels_last" else torch.contiguous_format
    tx = t(a.x).contiguous(memory_format=fmt)
    tw = t(a.w).contiguous(memory_format=fmt)
    tb = t(a.b) if a.b is not None else None
    opts = dict(stride=s.stride, padding=s.padding, dilation=s.dilation, groups=s.groups)
    if not case.backward:
        return Built(lambda: F.conv2d(tx, tw, tb, **opts), _tuple)
    tgo = t(a.go).contiguous(memory_format=fmt)
    bias_sizes = [s.w[0]] if s.bias else None
    mask = [True, True, s.bias]
    two = lambda v: [v, v]  # noqa: E731
    fn = lambda: torch.ops.aten.convolution_backward(  # noqa: E731
        tgo, tx, tw, bias_sizes, two(s.stride), two(s.padding), two(s.dilation), False, [0, 0], s.groups, mask)
    ax, aw = tx.clone().requires_grad_(), tw.clone().requires_grad_()
    ab = tb.clone().requires_grad_() if tb is not None else None
    F.conv2d(ax, aw, ab, **opts).backward(tgo)
    return Built(fn, _tuple, _tuple((ax.grad, aw.grad, ab.grad if ab is not None else None)))


# --- ONNX Runtime -------------------------------------------------------------------------


def _onnxruntime(label, case, a, threads):
    s = case.spec
    if not isinstance(s, Conv):
        raise Skip("convolutions only")
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    elem = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float64): TensorProto.DOUBLE}[a.x.dtype]
    k = list(s.w[2:])
    attrs = dict(kernel_shape=k, strides=[s.stride] * 2, pads=[s.padding] * 4, dilations=[s.dilation] * 2,
                 group=s.groups)
    inits = [numpy_helper.from_array(a.w, "W")]
    if not case.backward:
        ins = ["X", "W"]
        if s.bias:
            inits.append(numpy_helper.from_array(a.b, "B"))
            ins.append("B")
        nodes = [helper.make_node("Conv", ins, ["Y"], **attrs)]
        inputs = [helper.make_tensor_value_info("X", elem, list(s.x))]
        outputs = [helper.make_tensor_value_info("Y", elem, list(s.out_shape))]
        feed = {"X": a.x}
    else:
        if s.groups != 1:
            raise Skip("no single ONNX graph for a grouped conv's weight gradient")
        h, w = s.x[2:]
        ho, wo = s.out_hw
        op = [n - (s.stride * (no - 1) + s.dilation * (kk - 1) + 1 - 2 * s.padding)
              for n, no, kk in ((h, ho, k[0]), (w, wo, k[1]))]
        inits += [numpy_helper.from_array(np.array(v, dtype=np.int64), nm) for nm, v in (
            ("starts", [0, 0]), ("ends", k), ("axes", [2, 3]), ("raxes", [0, 2, 3]))]
        nodes = [
            # input gradient: the adjoint of the conv, ConvTranspose with the same weight
            helper.make_node("ConvTranspose", ["GY", "W"], ["GX"], output_padding=op, **attrs),
            # weight gradient: a conv over the batch, of x (as C_in images of N channels) with
            # grad_output (as C_out filters of N channels), stride and dilation swapped
            helper.make_node("Transpose", ["X"], ["XT"], perm=[1, 0, 2, 3]),
            helper.make_node("Transpose", ["GY"], ["GYT"], perm=[1, 0, 2, 3]),
            helper.make_node("Conv", ["XT", "GYT"], ["GWT_full"], strides=[s.dilation] * 2,
                             dilations=[s.stride] * 2, pads=[s.padding] * 4),
            helper.make_node("Slice", ["GWT_full", "starts", "ends", "axes"], ["GWT"]),
            helper.make_node("Transpose", ["GWT"], ["GW"], perm=[1, 0, 2, 3]),
        ]
        outs = [("GX", list(s.x)), ("GW", list(s.w))]
        if s.bias:
            nodes.append(helper.make_node("ReduceSum", ["GY", "raxes"], ["GB"], keepdims=0))
            outs.append(("GB", [s.w[0]]))
        inputs = [helper.make_tensor_value_info("GY", elem, list(s.out_shape)),
                  helper.make_tensor_value_info("X", elem, list(s.x))]
        outputs = [helper.make_tensor_value_info(n, elem, sh) for n, sh in outs]
        feed = {"GY": a.go, "X": a.x}
    graph = helper.make_graph(nodes, case.id.replace("/", "_"), inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = min(model.ir_version, 10)
    onnx.checker.check_model(model)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3
    try:
        sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    except Exception as exc:  # e.g. no float64 Conv kernel
        msg = str(exc).splitlines()[0]
        if "NOT_IMPLEMENTED" in msg:
            raise Skip(f"no {a.x.dtype} kernel for {nodes[0].op_type} in the CPU provider") from None
        raise Skip(f"session not created: {msg[:100]}") from None
    return Built(lambda: sess.run(None, feed), _tuple)


# --- JAX ----------------------------------------------------------------------------------


def _jax(label, case, a, threads):
    s = case.spec
    if not isinstance(s, Conv):
        raise Skip("convolutions only")
    import jax
    from jax import lax

    p = s.padding

    def f(x, w, b):
        y = lax.conv_general_dilated(x, w, window_strides=(s.stride, s.stride), padding=[(p, p), (p, p)],
                                     rhs_dilation=(s.dilation, s.dilation),
                                     dimension_numbers=("NCHW", "OIHW", "NCHW"), feature_group_count=s.groups)
        return y if b is None else y + b[None, :, None, None]

    put = jax.device_put
    x, w = put(a.x), put(a.w)
    b = put(a.b) if a.b is not None else None
    if not case.backward:
        jf = jax.jit(f)
        return Built(lambda: jf(x, w, b).block_until_ready(), _tuple)
    go = put(a.go)

    def bwd(x, w, b, g):
        _, vjp = jax.vjp(f, x, w, b)
        return vjp(g)

    jb = jax.jit(bwd)
    return Built(lambda: jax.block_until_ready(jb(x, w, b, go)), _tuple)


# --- NumPy roofs and single-plane baselines -----------------------------------------------

_POOLS = {}


def threaded_copy(dst, src, threads):
    """``np.copyto(dst, src)`` in ``threads`` slabs along the first axis, one per thread."""
    if threads == 1 or src.shape[0] < threads:
        np.copyto(dst, src)
        return
    pool = _POOLS.get(threads)
    if pool is None:
        pool = _POOLS[threads] = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="copy")
    bounds = np.linspace(0, src.shape[0], threads + 1).astype(int)
    for job in [pool.submit(np.copyto, dst[i:j], src[i:j]) for i, j in zip(bounds[:-1], bounds[1:])]:
        job.result()


def _numpy(label, case, a, threads):
    s = case.spec
    if label == "copy":
        dst = np.empty_like(a.x)
        return Built(lambda: threaded_copy(dst, a.x, threads), lambda r: None)
    if label == "matmul":
        g, m, n, k = s.gemm
        rng = np.random.default_rng(1)
        dt = a.x.dtype

        def mats(*shape):
            return rng.standard_normal((g, *shape) if g > 1 else shape).astype(dt)

        if not case.backward:
            wm, col, out = mats(m, k), mats(k, n), mats(m, n)
            return Built(lambda: np.matmul(wm, col, out=out), lambda r: None)
        # input gradient: W^T (K x M) @ dY (M x N); weight gradient: dY (M x N) @ col^T (N x K)
        wt, dy, dcol = mats(k, m), mats(m, n), mats(k, n)
        colt, dw = mats(n, k), mats(m, k)

        def both():
            np.matmul(wt, dy, out=dcol)
            np.matmul(dy, colt, out=dw)
        return Built(both, lambda r: None)
    if label == "scipy":
        from scipy import signal

        return Built(lambda: signal.correlate2d(a.x, a.w, mode="valid"), _tuple)
    if label == "numpy":
        from numpy.lib.stride_tricks import sliding_window_view

        return Built(lambda: np.einsum("ijkl,kl->ij", sliding_window_view(a.x, a.w.shape), a.w), _tuple)
    raise Skip(f"unknown contender {label}")


def roof_work(case):
    """FLOPs (matmul) or bytes read + written (copy) of one roof call."""
    if case.roof == "matmul":
        g, m, n, k = case.spec.gemm
        return 2.0 * g * m * n * k * (2 if case.backward else 1)
    return 2.0 * math.prod(case.spec.x) * np.dtype(case.dtype).itemsize
