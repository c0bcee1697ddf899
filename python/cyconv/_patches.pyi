"""Compiled unfold/fold kernels (src/_patches.pyx). Arguments are trusted: call them through
cyconv.unfold / cyconv.fold, which validate and normalise."""

import numpy as np
import numpy.typing as npt

def unfold_nchw(
    x: npt.NDArray[np.floating], cols: npt.NDArray[np.floating], kh: int, kw: int, sh: int, sw: int,
    dh: int, dw: int, pt: int, pl: int, Ho: int, Wo: int, num_threads: int,
) -> None: ...
def unfold_nhwc(
    x: npt.NDArray[np.floating], cols: npt.NDArray[np.floating], kh: int, kw: int, sh: int, sw: int,
    dh: int, dw: int, pt: int, pl: int, Ho: int, Wo: int, num_threads: int,
) -> None: ...
def fold_nchw(
    cols: npt.NDArray[np.floating], out: npt.NDArray[np.floating], kh: int, kw: int, sh: int, sw: int,
    dh: int, dw: int, pt: int, pl: int, Ho: int, Wo: int, num_threads: int,
) -> None: ...
def fold_nhwc(
    cols: npt.NDArray[np.floating], out: npt.NDArray[np.floating], kh: int, kw: int, sh: int, sw: int,
    dh: int, dw: int, pt: int, pl: int, Ho: int, Wo: int, cb: int, num_threads: int,
) -> None: ...
