"""Compiled adaptive-pooling kernels (src/_adaptive_pool.pyx). Arguments are trusted: call them
through cyconv.adaptive_avg_pool2d / adaptive_max_pool2d / adaptive_avg_pool2d_backward."""

import numpy as np
import numpy.typing as npt

def avg_forward(
    x: npt.NDArray[np.floating],
    out: npt.NDArray[np.floating],
    a_start: npt.NDArray[np.intp],
    a_end: npt.NDArray[np.intp],
    b_start: npt.NDArray[np.intp],
    b_end: npt.NDArray[np.intp],
    num_threads: int,
) -> None: ...
def avg_backward(
    grad_output: npt.NDArray[np.floating],
    grad_input: npt.NDArray[np.floating],
    work: npt.NDArray[np.floating],
    ra: npt.NDArray[np.floating],
    rb: npt.NDArray[np.floating],
    ilo: npt.NDArray[np.intp],
    ihi: npt.NDArray[np.intp],
    jlo: npt.NDArray[np.intp],
    jhi: npt.NDArray[np.intp],
    num_threads: int,
) -> None: ...
def max_forward(
    x: npt.NDArray[np.generic],  # any dtype of max pooling: dispatched in the module
    out: npt.NDArray[np.generic],
    indices: npt.NDArray[np.int64] | None,
    a_start: npt.NDArray[np.intp],
    a_end: npt.NDArray[np.intp],
    b_start: npt.NDArray[np.intp],
    b_end: npt.NDArray[np.intp],
    sa: int,
    sb: int,
    num_threads: int,
) -> None: ...
