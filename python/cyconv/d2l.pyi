# Type stubs for cyconv.d2l (the notes' names, on the compiled kernels).
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from ._typing import IntOrPair

__all__ = [
    "corr2d",
    "corr2d_multi_in",
    "corr2d_multi_in_out",
    "corr2d_multi_in_out_1x1",
    "pool2d",
    "comp_conv2d",
]

_Floating = npt.NDArray[np.floating[Any]]

def corr2d(X: npt.ArrayLike, K: npt.ArrayLike) -> _Floating: ...
def corr2d_multi_in(X: npt.ArrayLike, K: npt.ArrayLike) -> _Floating: ...
def corr2d_multi_in_out(X: npt.ArrayLike, K: npt.ArrayLike) -> _Floating: ...
def corr2d_multi_in_out_1x1(X: npt.ArrayLike, K: npt.ArrayLike) -> _Floating: ...
def pool2d(
    X: npt.ArrayLike, pool_size: IntOrPair, mode: Literal["max", "avg"] = "max"
) -> npt.NDArray[Any]: ...
def comp_conv2d(conv2d: Callable[[npt.NDArray[Any]], npt.ArrayLike], X: npt.ArrayLike) -> npt.NDArray[Any]: ...
