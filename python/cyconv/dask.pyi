# Type stubs for cyconv.dask: the in-memory functions' signatures, on dask arrays.
from collections.abc import Iterable
from typing import Literal, overload

import numpy.typing as npt
from dask.array import Array

from . import Conv2dGradients
from ._typing import Axes, Compute, Int, IntOrPair, Layout, Padding, PaddingMode

__all__ = [
    "correlate2d",
    "convolve2d",
    "conv2d",
    "max_pool2d",
    "avg_pool2d",
    "conv2d_backward",
    "task_threads",
]

def correlate2d(
    x: Array,
    kernel: npt.ArrayLike,
    /,
    *,
    stride: IntOrPair = 1,
    padding: Padding = 0,
    dilation: IntOrPair = 1,
    padding_mode: PaddingMode = "zeros",
    axes: Axes = (-2, -1),
) -> Array: ...
def convolve2d(
    x: Array,
    kernel: npt.ArrayLike,
    /,
    *,
    stride: IntOrPair = 1,
    padding: Padding = 0,
    dilation: IntOrPair = 1,
    padding_mode: PaddingMode = "zeros",
    axes: Axes = (-2, -1),
) -> Array: ...
def conv2d(
    x: Array,
    weight: npt.ArrayLike,
    /,
    bias: npt.ArrayLike | None = None,
    *,
    stride: IntOrPair = 1,
    padding: Padding = 0,
    dilation: IntOrPair = 1,
    groups: Int = 1,
    padding_mode: PaddingMode = "zeros",
    layout: Layout = "NCHW",
) -> Array: ...
@overload
def max_pool2d(
    x: Array,
    kernel_size: IntOrPair,
    /,
    *,
    stride: IntOrPair | None = None,
    padding: Padding = 0,
    dilation: IntOrPair = 1,
    ceil_mode: bool = False,
    return_indices: Literal[False] = False,
    axes: Axes = (-2, -1),
) -> Array: ...
@overload
def max_pool2d(
    x: Array,
    kernel_size: IntOrPair,
    /,
    *,
    stride: IntOrPair | None = None,
    padding: Padding = 0,
    dilation: IntOrPair = 1,
    ceil_mode: bool = False,
    return_indices: Literal[True],
    axes: Axes = (-2, -1),
) -> tuple[Array, Array]: ...
@overload
def max_pool2d(
    x: Array,
    kernel_size: IntOrPair,
    /,
    *,
    stride: IntOrPair | None = None,
    padding: Padding = 0,
    dilation: IntOrPair = 1,
    ceil_mode: bool = False,
    return_indices: bool,
    axes: Axes = (-2, -1),
) -> Array | tuple[Array, Array]: ...
def avg_pool2d(
    x: Array,
    kernel_size: IntOrPair,
    /,
    *,
    stride: IntOrPair | None = None,
    padding: Padding = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: Int | None = None,
    axes: Axes = (-2, -1),
) -> Array: ...
def conv2d_backward(
    grad_output: Array,
    x: Array,
    weight: npt.ArrayLike,
    /,
    *,
    stride: IntOrPair = 1,
    padding: Padding = 0,
    dilation: IntOrPair = 1,
    groups: Int = 1,
    padding_mode: PaddingMode = "zeros",
    compute: Compute | Iterable[Compute] = ("input", "weight", "bias"),
    layout: Layout = "NCHW",
) -> Conv2dGradients[Array | None, Array | None, Array | None]: ...
def task_threads() -> int: ...
