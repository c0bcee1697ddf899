# cython: language_level=3
"""The check of the common convolution call, in C (cyconv._conv_args.fast_geometry).

conv2d, correlate2d/convolve2d and conv2d_backward first ask :func:`fast_geometry`
whether the call needs no normalisation; its dozen attribute look-ups and comparisons
cost more than a tiny convolution's kernel when done in Python. It only ever accepts
calls it proves valid; everything else (including every error) gets None and takes
the general path, which validates and explains. It raises nothing.
"""

cimport numpy as cnp
from cpython.long cimport PyLong_CheckExact

import numpy as np

cnp.import_array()

cdef object _F32 = np.dtype(np.float32)
cdef object _F64 = np.dtype(np.float64)
# Options of 2**20 or more take the general path, which refuses what the kernels'
# Py_ssize_t arithmetic cannot hold; below it (with the shapes of real, C-contiguous
# arrays, whose element counts fit in memory) every index fits.
cdef object _OPTION_LIMIT = 1 << 20
cdef Py_ssize_t _AXIS_LIMIT = (<Py_ssize_t>1) << 40
cdef object _MAX_RESULT_BYTES = 1 << 46  # cyconv._arrays.MAX_RESULT_BYTES


cdef inline bint _canonical4(object a, cnp.PyArray_Descr* dt):
    """An ndarray (not a subclass) of dtype dt, 4-D, C-contiguous, no empty axis."""
    if type(a) is not cnp.ndarray:
        return False
    cdef cnp.ndarray arr = <cnp.ndarray>a
    if cnp.PyArray_DESCR(arr) != dt or cnp.PyArray_NDIM(arr) != 4:
        return False
    if not (cnp.PyArray_IS_C_CONTIGUOUS(arr) and cnp.PyArray_ISALIGNED(arr)):
        return False
    cdef cnp.npy_intp* d = cnp.PyArray_DIMS(arr)
    cdef int i
    for i in range(4):
        if d[i] < 1 or d[i] > _AXIS_LIMIT:
            return False
    return True


def fast_geometry(x, weight, stride, padding, dilation, groups):
    """The kernels' geom for a call that needs no normalisation, else None.

    ``x`` and ``weight`` are ndarrays of one dtype, float32 or float64, C-contiguous
    and 4-D; stride, padding, dilation and groups are Python ints (stride, dilation,
    groups >= 1, padding >= 0); the shapes agree; the output is not empty nor too
    large; no kernel row/column reads only padding (conv2d would drop it). Returns
    ``(kh, kw, s, s, d, d, p, p, ho, wo)``.
    """
    if type(x) is not cnp.ndarray:
        return None
    cdef cnp.PyArray_Descr* dt = cnp.PyArray_DESCR(<cnp.ndarray>x)
    if dt != <cnp.PyArray_Descr*>_F32 and dt != <cnp.PyArray_Descr*>_F64:
        return None
    cdef cnp.ndarray xa = <cnp.ndarray>x
    if (cnp.PyArray_NDIM(xa) != 4 or not cnp.PyArray_IS_C_CONTIGUOUS(xa)
            or not cnp.PyArray_ISALIGNED(xa)):
        return None
    if not (PyLong_CheckExact(stride) and PyLong_CheckExact(padding)
            and PyLong_CheckExact(dilation) and PyLong_CheckExact(groups)):
        return None
    if not (1 <= stride < _OPTION_LIMIT and 0 <= padding < _OPTION_LIMIT
            and 1 <= dilation < _OPTION_LIMIT and 1 <= groups < _OPTION_LIMIT):
        return None
    if not _canonical4(weight, dt):
        return None
    cdef cnp.npy_intp* xd = cnp.PyArray_DIMS(xa)
    cdef cnp.npy_intp* wd = cnp.PyArray_DIMS(<cnp.ndarray>weight)
    cdef Py_ssize_t n = xd[0], c = xd[1], h = xd[2], w = xd[3]
    cdef Py_ssize_t co = wd[0], cg = wd[1], kh = wd[2], kw = wd[3]
    cdef Py_ssize_t s = stride, p = padding, d = dilation, g = groups
    # (x may hold no images)
    if n > _AXIS_LIMIT or c < 1 or h < 1 or w < 1 or c > _AXIS_LIMIT:
        return None
    if h > _AXIS_LIMIT or w > _AXIS_LIMIT or cg * g != c or co % g:
        return None
    # The output-size formula; a negative numerator means no output (and C division
    # truncates towards zero: it must not get that far).
    cdef Py_ssize_t rows = h + 2 * p - d * (kh - 1) - 1
    cdef Py_ssize_t cols = w + 2 * p - d * (kw - 1) - 1
    if rows < 0 or cols < 0:
        return None
    cdef Py_ssize_t ho = rows // s + 1
    cdef Py_ssize_t wo = cols // s + 1
    # (Python integers: the product cannot overflow)
    if <object>n * co * ho * wo * cnp.PyArray_ITEMSIZE(xa) > _MAX_RESULT_BYTES:
        return None
    if p and (  # kernel rows/columns reading only padding: conv2d drops them
        (ho - 1) * s < p or (kh - 1) * d - p >= h
        or (wo - 1) * s < p or (kw - 1) * d - p >= w
    ):
        return None
    return (kh, kw, s, s, d, d, p, p, ho, wo)
