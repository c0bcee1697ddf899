"""Compiled max-pooling kernels (src/_maxpool.pyx). Arguments are trusted: call them
through cyconv.max_pool2d / cyconv.max_pool2d_backward, which validate and normalise."""

import numpy as np
import numpy.typing as npt

def forward(
    x: npt.NDArray[np.generic],
    out: npt.NDArray[np.generic],
    indices: npt.NDArray[np.int64] | None,
    kh: int,
    kw: int,
    sh: int,
    sw: int,
    pt: int,
    pl: int,
    dh: int,
    dw: int,
    jlo: npt.NDArray[np.intp],
    jhi: npt.NDArray[np.intp],
    num_threads: int,
) -> None: ...
def backward(
    grad_output: npt.NDArray[np.floating],
    indices: npt.NDArray[np.int64],
    grad_input: npt.NDArray[np.floating],
    num_threads: int,
) -> int: ...
