"""Forward convolution kernels (GEMM via im2col, and direct kernels)."""
from _types cimport real_t
from _im2col cimport ConvGeom, make_geom, im2col


def im2col_image(const real_t[:, :, ::1] x, real_t[:, ::1] cols, Py_ssize_t col0,
                 Py_ssize_t c0, Py_ssize_t cn, Py_ssize_t oh0, Py_ssize_t oh1,
                 Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                 Py_ssize_t dh, Py_ssize_t dw, Py_ssize_t pt, Py_ssize_t pl,
                 Py_ssize_t ho, Py_ssize_t wo):
    """Test hook for the shared im2col routine (validated by the caller)."""
    cdef ConvGeom g = make_geom(kh, kw, sh, sw, dh, dw, pt, pl, ho, wo)
    with nogil:
        im2col(x, &g, c0, cn, oh0, oh1, cols, col0)
