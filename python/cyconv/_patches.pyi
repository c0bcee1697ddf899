"""Compiled unfold/fold kernels (src/_patches.pyx). Arguments are trusted: call them through
cyconv.unfold / cyconv.fold, which validate and normalise."""

import numpy as np
import numpy.typing as npt

def unfold(
    x: npt.NDArray[np.floating],
    cols: npt.NDArray[np.floating],
    g: npt.NDArray[np.intp],
    nhwc: bool,
    num_threads: int,
) -> None: ...
def fold(
    cols: npt.NDArray[np.floating],
    out: npt.NDArray[np.floating],
    g: npt.NDArray[np.intp],
    nhwc: bool,
    num_threads: int,
) -> None: ...
