# Stub for the compiled gradient kernels (cyconv._conv_grad and cyconv._conv_grad_avx2).
# Internal API: the arguments are validated and canonical (C-contiguous float32/float64)
# by cyconv._convolution_grad; see the docstrings in src/_conv_grad.pyx.
import numpy as np

_Geom = tuple[int, int, int, int, int, int, int, int, int, int]

def gather(x: np.ndarray, cols: np.ndarray, n0: int, nb: int, c0: int, cn: int,
           oh0: int, oh1: int, geom: _Geom, max_threads: int = ...) -> None: ...
def scatter(cols: np.ndarray, dx: np.ndarray, n0: int, nb: int, c0: int, cn: int,
            oh0: int, oh1: int, geom: _Geom, max_threads: int = ...) -> None: ...
def bias_grad(gy: np.ndarray, dbias: np.ndarray, max_threads: int = ...) -> None: ...
def direct_backward(gy: np.ndarray, x: np.ndarray | None, weight: np.ndarray,
                    dx: np.ndarray | None, dweight: np.ndarray | None,
                    dbias: np.ndarray | None, acc: np.ndarray | None, tot: np.ndarray | None,
                    groups: int, geom: _Geom) -> None: ...
def gemm_backward(gy: np.ndarray, x: np.ndarray | None, weight: np.ndarray,
                  dx: np.ndarray | None, dweight: np.ndarray | None, groups: int,
                  geom: _Geom, nb: int, rows: int, pointwise: bool,
                  kernel_threads: int = ...) -> None: ...
def gather_wide(frame: np.ndarray, cols: np.ndarray, c0: int, cn: int, oh0: int, oh1: int,
                kh: int, kw: int, dh: int, dw: int) -> None: ...
def scatter_wide(cols: np.ndarray, frame: np.ndarray, c0: int, cn: int, oh0: int, oh1: int,
                 kh: int, kw: int, dh: int, dw: int, wo: int) -> None: ...
def gemm_backward_wide(gy: np.ndarray, x: np.ndarray | None, weight: np.ndarray,
                       dx: np.ndarray | None, dweight: np.ndarray | None, groups: int,
                       geom: _Geom, nb: int, rows: int) -> None: ...
