"""Array normalisation: dtype rules, the kernels' canonical layout, and ``out=``.

The kernels see only C-contiguous, native-byte-order float32/float64 arrays
(max pooling: any native real dtype). Everything else is turned into that here,
or rejected with a TypeError/ValueError.
"""

import numpy as np

# Refuse results larger than this many bytes before allocating (a clear error, not an
# overflow or an allocation of absurd size).
MAX_RESULT_BYTES = 1 << 46  # 64 TiB

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)


def as_array(value, name):
    """np.asarray with the dtype kinds cyconv can never compute on rejected."""
    if type(value) is np.ndarray:
        arr = value
    else:
        _refuse_foreign(value, name)
        arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        if arr.dtype.kind == "O" and not isinstance(value, (np.ndarray, list, tuple)):
            raise TypeError(
                f"{name} must be array-like (a numpy.ndarray, an object with __array__ or the "
                f"buffer protocol, or nested sequences of numbers); got an object of type {_type_name(value)}"
            )
        raise TypeError(
            f"{name} must have a real numeric dtype (bool, integer or floating), got dtype {arr.dtype}"
        )
    return arr


def _type_name(value):
    t = type(value)
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def _refuse_foreign(value, name):
    """A TypeError naming what to do for arrays np.asarray must not convert (dask: it would
    load them into memory) or cannot (autodiff tracers: there is no value to compute on)."""
    cls = type(value)
    top = (cls.__module__ or "").partition(".")[0]
    if top not in ("dask", "autograd", "jax", "jaxlib"):
        return
    bases = {c.__name__ for c in cls.__mro__}
    if top == "dask":
        raise TypeError(
            f"{name} is a dask array ({_type_name(value)}): cyconv would load all of it into "
            f"memory. cyconv.dask has conv2d, correlate2d, convolve2d, max_pool2d, avg_pool2d and "
            f"conv2d_backward for dask arrays (same signatures, block by block with exact halos); "
            f"or call .compute() first to load it explicitly"
        )
    if top == "autograd" and "Box" in bases:
        raise TypeError(
            f"{name} is an autograd {cls.__name__} (autograd.grad is tracing this call): cyconv's "
            f"kernels are not autograd primitives. Register them with autograd.extend.primitive "
            f"and defvjp, using cyconv's backward functions: see the guide page 'Gradients with "
            f"HIPS autograd' (docs/autodiff.md)"
        )
    if "Tracer" in bases or any(b.endswith("Tracer") for b in bases):
        raise TypeError(
            f"{name} is a JAX tracer ({_type_name(value)}; jax.jit/grad/vmap is tracing this "
            f"call): cyconv computes on concrete NumPy arrays. Call it outside the traced "
            f"function, or wrap it in jax.pure_callback (with jax.custom_vjp and cyconv's "
            f"backward functions for gradients)"
        )


def compute_dtypes(*arrays):
    """(compute dtype, result dtype) under SPEC's rules for floating results.

    float32 -> float32, float64 -> float64, mixed -> np.result_type, integers and
    bool -> float64, float16 -> computed in float32 and returned as float16,
    longdouble -> computed and returned in float64.
    """
    dt = arrays[0].dtype
    if dt is _F32 or dt is _F64:  # the common case: all float32 or all float64
        for arr in arrays:
            if arr.dtype is not dt:
                break
        else:
            return dt, dt
    rt = np.result_type(*arrays)
    if rt.kind != "f":
        return _F64, _F64
    if rt.itemsize == 2:
        return _F32, np.dtype(np.float16)
    if rt.itemsize == 4:
        return _F32, _F32
    return _F64, _F64


def canonical(arr, dtype):
    """C-contiguous, aligned, native byte order, of ``dtype``; no copy when already so.

    (``np.ascontiguousarray`` keeps a contiguous array whose data pointer is not a
    multiple of its item size, e.g. a ``np.frombuffer`` view at an odd offset; the
    kernels' vector loads need aligned items, so such an array is copied.)
    """
    if type(arr) is np.ndarray and arr.dtype is dtype and arr.ndim and arr.flags.c_contiguous:
        if arr.flags.aligned:
            return arr  # already canonical (the common case), without a call into NumPy
        return np.array(arr, order="C")
    arr = np.ascontiguousarray(arr, dtype=dtype)
    return arr if arr.flags.aligned else np.array(arr, order="C")


def check_size(shape, itemsize, what):
    """Raise MemoryError before allocating a result or workspace that cannot exist."""
    n = 1
    for v in shape:
        n *= v
    if n * itemsize > MAX_RESULT_BYTES:
        raise MemoryError(
            f"{what} of shape {tuple(shape)} would need {n * itemsize:,} bytes "
            f"(more than the {MAX_RESULT_BYTES:,}-byte limit)"
        )


def _overlaps(a, b):
    if not np.may_share_memory(a, b):
        return False
    try:
        return np.shares_memory(a, b, max_work=100_000)
    except np.exceptions.TooHardError:
        return True


# Beyond this many elements, an out= whose strides do not nest is refused rather than
# checked element by element (the exact check needs 8 bytes per element).
_EXACT_OVERLAP_CHECK_MAX = 1 << 22


def _self_overlapping(a):
    """True when two elements of ``a`` share a byte (a zero-stride or as_strided view).

    Strides that nest (each, sorted, at least the span of the smaller ones: every view made
    by slicing, transposing or reshaping) cannot overlap. Other strides are checked exactly
    from the elements' byte offsets, up to _EXACT_OVERLAP_CHECK_MAX elements.
    """
    if a.size <= 1 or a.flags.c_contiguous or a.flags.f_contiguous:
        return False
    span = a.itemsize
    for stride, n in sorted((abs(st), n) for n, st in zip(a.shape, a.strides) if n > 1):
        if stride < span:
            break
        span += stride * (n - 1)
    else:
        return False
    if a.size > _EXACT_OVERLAP_CHECK_MAX:
        return True
    offsets = np.zeros((), np.int64)
    for n, st in zip(a.shape, a.strides):
        offsets = np.add.outer(offsets, np.arange(n, dtype=np.int64) * st)
    offsets = np.sort(offsets, axis=None)
    return bool(np.any(np.diff(offsets) < a.itemsize))


def result_buffer(out, shape, compute_dtype, dtype, inputs, name="out"):
    """Where a kernel writes: a fresh array, ``out`` itself, or a scratch array.

    ``dtype`` is the result dtype the caller sees, ``compute_dtype`` the one the
    kernel writes. Returns ``(buffer, out)``: the kernel writes into ``buffer``
    (always C-contiguous, native order, ``compute_dtype``); then call :func:`finish`.
    """
    shape = tuple(shape)
    if out is None:
        check_size(shape, max(dtype.itemsize, compute_dtype.itemsize), "the result")
        return np.empty(shape, compute_dtype), None
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(out).__name__}")
    if type(out) is not np.ndarray:
        # Subclasses (np.matrix, np.memmap, ...) are written through a base-class view and
        # returned themselves, as NumPy's ufuncs do; a mask could not be honoured.
        if isinstance(out, np.ma.MaskedArray):
            raise TypeError(f"{name} must not be a masked array (its mask would be ignored); "
                            f"pass {name}.data or a plain numpy.ndarray")
        view = out.view(np.ndarray)
        buf, _ = result_buffer(view, shape, compute_dtype, dtype, inputs, name)
        return buf, out
    if out.shape != shape:
        raise ValueError(f"{name} has shape {out.shape}, expected the result shape {shape}")
    if out.dtype.newbyteorder("=") != dtype:  # a byte-swapped out of the right type is fine
        raise ValueError(f"{name} has dtype {out.dtype}, expected the result dtype {dtype}")
    if not out.flags.writeable:
        raise ValueError(f"{name} is read-only")
    if _self_overlapping(out):
        raise ValueError(
            f"{name}'s elements overlap each other (strides {out.strides} for shape {out.shape}, "
            "e.g. a zero-stride or as_strided view); pass an array whose elements are distinct")
    for arr in inputs:
        if arr is not None and _overlaps(out, arr):
            raise ValueError(f"{name} overlaps an input array; pass a separate output buffer")
    if out.flags.c_contiguous and out.flags.aligned and out.dtype.isnative and dtype == compute_dtype:
        return out, out
    return np.empty(shape, compute_dtype), out


def finish(buffer, out, result_dtype):
    """Cast the kernel's buffer to the result dtype and place it in ``out``."""
    if out is None:
        return buffer if buffer.dtype == result_dtype else buffer.astype(result_dtype)
    if buffer is not out and buffer.base is not out:  # (not out's base-class view)
        out[...] = buffer
    return out
