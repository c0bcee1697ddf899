"""Compiled average-pooling kernels (src/_avgpool.pyx). Arguments are trusted: call them
through cyconv.avg_pool2d / cyconv.avg_pool2d_backward, which validate and normalise."""

import numpy as np
import numpy.typing as npt

# Output columns per block of a long row (the aspect-ratio blocking, src/_avgpool.pyx).
COLUMN_BLOCK: int

def forward(
    x: npt.NDArray[np.floating],
    out: npt.NDArray[np.floating],
    work: npt.NDArray[np.floating],
    kh: int,
    kw: int,
    sh: int,
    sw: int,
    pt: int,
    pl: int,
    rch: npt.NDArray[np.floating],
    rcw: npt.NDArray[np.floating],
    num_threads: int,
) -> None: ...
def backward(
    grad_output: npt.NDArray[np.floating],
    grad_input: npt.NDArray[np.floating],
    work: npt.NDArray[np.floating],
    kh: int,
    kw: int,
    sh: int,
    sw: int,
    pt: int,
    pl: int,
    jlo: npt.NDArray[np.intp],
    jhi: npt.NDArray[np.intp],
    rch: npt.NDArray[np.floating],
    rcw: npt.NDArray[np.floating],
    num_threads: int,
) -> None: ...
