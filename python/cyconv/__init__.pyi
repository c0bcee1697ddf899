# Type stubs for cyconv's public API (the runtime modules carry no annotations).
# The signatures follow SPEC.md; `python -m mypy.stubtest cyconv` compares them with the
# runtime. Overloads: float16/float32/float64 ndarrays keep their dtype; anything else
# (lists, integer arrays, mixed dtypes) gives an ndarray of some floating dtype.
from collections.abc import Iterable, Sequence
from typing import IO, Any, Generic, Literal, NamedTuple, overload

from typing_extensions import TypeVar

import numpy as np
import numpy.typing as npt

from . import d2l as d2l
from . import dask as dask
from . import nn as nn
from ._typing import Axes, Compute, Int, IntOrPair, Layout, Padding, PaddingMode, PoolOutputSize

__version__: str
__all__ = [
    "Conv2dGradients",
    "ReceptiveField",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool2d_backward",
    "adaptive_max_pool2d",
    "avg_pool2d",
    "avg_pool2d_backward",
    "conv2d",
    "conv2d_backward",
    "conv2d_output_shape",
    "conv_transpose2d",
    "convolve2d",
    "correlate2d",
    "fold",
    "get_num_threads",
    "get_workspace_limit",
    "max_pool2d",
    "max_pool2d_backward",
    "output_size",
    "pool2d_output_shape",
    "receptive_field",
    "set_num_threads",
    "set_workspace_limit",
    "show_config",
    "unfold",
]

# float16 in -> float16 out, float32 -> float32, float64 -> float64.
_FloatT = TypeVar("_FloatT", np.float16, np.float32, np.float64)
# max pooling keeps every real dtype (uint8 stays uint8).
_RealT = TypeVar("_RealT", bound=np.bool_ | np.integer[Any] | np.floating[Any])

_Floating = npt.NDArray[np.floating[Any]]
_Shape = Sequence[Int]

# The member types: arrays when compute= was left at its default (all three), else
# "array or None" (a bare `Conv2dGradients` annotation means the latter).
_GI = TypeVar("_GI", covariant=True, default=_Floating | None)
_GW = TypeVar("_GW", covariant=True, default=_Floating | None)
_GB = TypeVar("_GB", covariant=True, default=_Floating | None)

class Conv2dGradients(NamedTuple, Generic[_GI, _GW, _GB]):
    """The gradients of conv2d (None for those not computed)."""

    input: _GI
    weight: _GW
    bias: _GB

class ReceptiveField(NamedTuple):
    size: tuple[int, int]
    jump: tuple[int, int]
    start: tuple[int, int]
    @property
    def center(self) -> tuple[float, float]: ...

# --------------------------------------------------------------------- shape arithmetic

def output_size(
    n: Int,
    kernel_size: Int,
    *,
    stride: Int = 1,
    padding: Int | tuple[Int, Int] = 0,
    dilation: Int = 1,
    ceil_mode: bool = False,
) -> int: ...
def conv2d_output_shape(
    input_shape: _Shape,
    weight_shape: _Shape,
    *,
    stride: IntOrPair = 1,
    padding: Padding = 0,
    dilation: IntOrPair = 1,
    groups: Int = 1,
) -> tuple[int, ...]: ...
def pool2d_output_shape(
    input_shape: _Shape,
    kernel_size: IntOrPair,
    *,
    stride: IntOrPair | None = None,
    padding: Padding = 0,
    dilation: IntOrPair = 1,
    ceil_mode: bool = False,
) -> tuple[int, ...]: ...
@overload
def receptive_field(layers: Iterable[Any], *, per_layer: Literal[False] = False) -> ReceptiveField: ...
@overload
def receptive_field(layers: Iterable[Any], *, per_layer: Literal[True]) -> list[ReceptiveField]: ...
@overload
def receptive_field(
    layers: Iterable[Any], *, per_layer: bool
) -> ReceptiveField | list[ReceptiveField]: ...

# --------------------------------------------------------------------- forward

@overload
def correlate2d(
    x: npt.NDArray[_FloatT],
    kernel: npt.NDArray[_FloatT],
    /,
    *,
    stride: IntOrPair = 1,
    padding: Padding = 0,
    dilation: IntOrPair = 1,
    padding_mode: PaddingMode = "zeros",
    axes: Axes = (-2, -1),
    out: npt.NDArray[_FloatT] | None = None,
) -> npt.NDArray[_FloatT]: ...
@overload
def correlate2d(
    x: npt.ArrayLike,
    kernel: npt.ArrayLike,
    /,
    *,
    stride: IntOrPair = 1,
    padding: Padding = 0,
    dilation: IntOrPair = 1,
    padding_mode: PaddingMode = "zeros",
    axes: Axes = (-2, -1),
    out: npt.NDArray[Any] | None = None,
) -> _Floating: ...
@overload
def convolve2d(
    x: npt.NDArray[_FloatT],
    kernel: npt.NDArray[_FloatT],
    /,
    *,
    stride: IntOrPair = 1,
    padding: Padding = 0,
    dilation: IntOrPair = 1,
    padding_mode: PaddingMode = "zeros",
    axes: Axes = (-2, -1),
    out: npt.NDArray[_FloatT] | None = None,
) -> npt.NDArray[_FloatT]: ...
@overload
def convolve2d(
    x: npt.ArrayLike,
    kernel: npt.ArrayLike,
    /,
    *,
    stride: IntOrPair = 1,
    padding: Padding = 0,
    dilation: IntOrPair = 1,
    padding_mode: PaddingMode = "zeros",
    axes: Axes = (-2, -1),
    out: npt.NDArray[Any] | None = None,
) -> _Floating: ...
@overload
def conv2d(
    x: npt.NDArray[_FloatT],
    weight: npt.NDArray[_FloatT],
    /,
    bias: npt.NDArray[_FloatT] | None = None,
    *,
    stride: IntOrPair = 1,
    padding: Padding = 0,
    dilation: IntOrPair = 1,
    groups: Int = 1,
    padding_mode: PaddingMode = "zeros",
    layout: Layout = "NCHW",
    out: npt.NDArray[_FloatT] | None = None,
) -> npt.NDArray[_FloatT]: ...
@overload
def conv2d(
    x: npt.ArrayLike,
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
    out: npt.NDArray[Any] | None = None,
) -> _Floating: ...
@overload
def conv_transpose2d(
    x: npt.NDArray[_FloatT],
    weight: npt.NDArray[_FloatT],
    /,
    bias: npt.NDArray[_FloatT] | None = None,
    *,
    stride: IntOrPair = 1,
    padding: Padding = 0,
    output_padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
    groups: Int = 1,
    layout: Layout = "NCHW",
) -> npt.NDArray[_FloatT]: ...
@overload
def conv_transpose2d(
    x: npt.ArrayLike,
    weight: npt.ArrayLike,
    /,
    bias: npt.ArrayLike | None = None,
    *,
    stride: IntOrPair = 1,
    padding: Padding = 0,
    output_padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
    groups: Int = 1,
    layout: Layout = "NCHW",
) -> _Floating: ...

# --------------------------------------------------------------------- pooling

@overload
def max_pool2d(
    x: npt.NDArray[_RealT],
    kernel_size: IntOrPair,
    /,
    *,
    stride: IntOrPair | None = None,
    padding: Padding = 0,
    dilation: IntOrPair = 1,
    ceil_mode: bool = False,
    return_indices: Literal[False] = False,
    axes: Axes = (-2, -1),
    out: npt.NDArray[_RealT] | None = None,
) -> npt.NDArray[_RealT]: ...
@overload
def max_pool2d(
    x: npt.NDArray[_RealT],
    kernel_size: IntOrPair,
    /,
    *,
    stride: IntOrPair | None = None,
    padding: Padding = 0,
    dilation: IntOrPair = 1,
    ceil_mode: bool = False,
    return_indices: Literal[True],
    axes: Axes = (-2, -1),
    out: npt.NDArray[_RealT] | None = None,
) -> tuple[npt.NDArray[_RealT], npt.NDArray[np.int64]]: ...
@overload
def max_pool2d(
    x: npt.ArrayLike,
    kernel_size: IntOrPair,
    /,
    *,
    stride: IntOrPair | None = None,
    padding: Padding = 0,
    dilation: IntOrPair = 1,
    ceil_mode: bool = False,
    return_indices: Literal[False] = False,
    axes: Axes = (-2, -1),
    out: npt.NDArray[Any] | None = None,
) -> npt.NDArray[Any]: ...
@overload
def max_pool2d(
    x: npt.ArrayLike,
    kernel_size: IntOrPair,
    /,
    *,
    stride: IntOrPair | None = None,
    padding: Padding = 0,
    dilation: IntOrPair = 1,
    ceil_mode: bool = False,
    return_indices: Literal[True],
    axes: Axes = (-2, -1),
    out: npt.NDArray[Any] | None = None,
) -> tuple[npt.NDArray[Any], npt.NDArray[np.int64]]: ...
@overload
def max_pool2d(
    x: npt.ArrayLike,
    kernel_size: IntOrPair,
    /,
    *,
    stride: IntOrPair | None = None,
    padding: Padding = 0,
    dilation: IntOrPair = 1,
    ceil_mode: bool = False,
    return_indices: bool,
    axes: Axes = (-2, -1),
    out: npt.NDArray[Any] | None = None,
) -> npt.NDArray[Any] | tuple[npt.NDArray[Any], npt.NDArray[np.int64]]: ...
@overload
def avg_pool2d(
    x: npt.NDArray[_FloatT],
    kernel_size: IntOrPair,
    /,
    *,
    stride: IntOrPair | None = None,
    padding: Padding = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: Int | None = None,
    axes: Axes = (-2, -1),
    out: npt.NDArray[_FloatT] | None = None,
) -> npt.NDArray[_FloatT]: ...
@overload
def avg_pool2d(
    x: npt.ArrayLike,
    kernel_size: IntOrPair,
    /,
    *,
    stride: IntOrPair | None = None,
    padding: Padding = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: Int | None = None,
    axes: Axes = (-2, -1),
    out: npt.NDArray[Any] | None = None,
) -> _Floating: ...
@overload
def adaptive_avg_pool2d(
    x: npt.NDArray[_FloatT], output_size: PoolOutputSize, /, *, axes: Axes = (-2, -1)
) -> npt.NDArray[_FloatT]: ...
@overload
def adaptive_avg_pool2d(
    x: npt.ArrayLike, output_size: PoolOutputSize, /, *, axes: Axes = (-2, -1)
) -> _Floating: ...
@overload
def adaptive_max_pool2d(
    x: npt.NDArray[_RealT],
    output_size: PoolOutputSize,
    /,
    *,
    return_indices: Literal[False] = False,
    axes: Axes = (-2, -1),
) -> npt.NDArray[_RealT]: ...
@overload
def adaptive_max_pool2d(
    x: npt.NDArray[_RealT],
    output_size: PoolOutputSize,
    /,
    *,
    return_indices: Literal[True],
    axes: Axes = (-2, -1),
) -> tuple[npt.NDArray[_RealT], npt.NDArray[np.int64]]: ...
@overload
def adaptive_max_pool2d(
    x: npt.ArrayLike,
    output_size: PoolOutputSize,
    /,
    *,
    return_indices: Literal[False] = False,
    axes: Axes = (-2, -1),
) -> npt.NDArray[Any]: ...
@overload
def adaptive_max_pool2d(
    x: npt.ArrayLike,
    output_size: PoolOutputSize,
    /,
    *,
    return_indices: Literal[True],
    axes: Axes = (-2, -1),
) -> tuple[npt.NDArray[Any], npt.NDArray[np.int64]]: ...
@overload
def adaptive_max_pool2d(
    x: npt.ArrayLike,
    output_size: PoolOutputSize,
    /,
    *,
    return_indices: bool,
    axes: Axes = (-2, -1),
) -> npt.NDArray[Any] | tuple[npt.NDArray[Any], npt.NDArray[np.int64]]: ...

# --------------------------------------------------------------------- patches

@overload
def unfold(
    x: npt.NDArray[_FloatT],
    kernel_size: IntOrPair,
    /,
    *,
    stride: IntOrPair = 1,
    padding: Padding = 0,
    dilation: IntOrPair = 1,
    layout: Layout = "NCHW",
) -> npt.NDArray[_FloatT]: ...
@overload
def unfold(
    x: npt.ArrayLike,
    kernel_size: IntOrPair,
    /,
    *,
    stride: IntOrPair = 1,
    padding: Padding = 0,
    dilation: IntOrPair = 1,
    layout: Layout = "NCHW",
) -> _Floating: ...
@overload
def fold(
    cols: npt.NDArray[_FloatT],
    output_size: IntOrPair,
    kernel_size: IntOrPair,
    /,
    *,
    stride: IntOrPair = 1,
    padding: Padding = 0,
    dilation: IntOrPair = 1,
    layout: Layout = "NCHW",
) -> npt.NDArray[_FloatT]: ...
@overload
def fold(
    cols: npt.ArrayLike,
    output_size: IntOrPair,
    kernel_size: IntOrPair,
    /,
    *,
    stride: IntOrPair = 1,
    padding: Padding = 0,
    dilation: IntOrPair = 1,
    layout: Layout = "NCHW",
) -> _Floating: ...

# --------------------------------------------------------------------- gradients

@overload
def conv2d_backward(
    grad_output: npt.ArrayLike,
    x: npt.ArrayLike,
    weight: npt.ArrayLike,
    /,
    *,
    stride: IntOrPair = 1,
    padding: Padding = 0,
    dilation: IntOrPair = 1,
    groups: Int = 1,
    padding_mode: PaddingMode = "zeros",
    layout: Layout = "NCHW",
) -> Conv2dGradients[_Floating, _Floating, _Floating]: ...
@overload
def conv2d_backward(
    grad_output: npt.ArrayLike,
    x: npt.ArrayLike,
    weight: npt.ArrayLike,
    /,
    *,
    stride: IntOrPair = 1,
    padding: Padding = 0,
    dilation: IntOrPair = 1,
    groups: Int = 1,
    padding_mode: PaddingMode = "zeros",
    compute: Compute | Iterable[Compute],
    layout: Layout = "NCHW",
) -> Conv2dGradients: ...
@overload
def max_pool2d_backward(
    grad_output: npt.NDArray[_FloatT],
    indices: npt.ArrayLike,
    input_shape: _Shape,
    *,
    axes: Axes = (-2, -1),
) -> npt.NDArray[_FloatT]: ...
@overload
def max_pool2d_backward(
    grad_output: npt.ArrayLike,
    indices: npt.ArrayLike,
    input_shape: _Shape,
    *,
    axes: Axes = (-2, -1),
) -> _Floating: ...
@overload
def avg_pool2d_backward(
    grad_output: npt.NDArray[_FloatT],
    input_shape: _Shape,
    kernel_size: IntOrPair,
    /,
    *,
    stride: IntOrPair | None = None,
    padding: Padding = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: Int | None = None,
    axes: Axes = (-2, -1),
) -> npt.NDArray[_FloatT]: ...
@overload
def avg_pool2d_backward(
    grad_output: npt.ArrayLike,
    input_shape: _Shape,
    kernel_size: IntOrPair,
    /,
    *,
    stride: IntOrPair | None = None,
    padding: Padding = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: Int | None = None,
    axes: Axes = (-2, -1),
) -> _Floating: ...
@overload
def adaptive_avg_pool2d_backward(
    grad_output: npt.NDArray[_FloatT], input_shape: _Shape, /, *, axes: Axes = (-2, -1)
) -> npt.NDArray[_FloatT]: ...
@overload
def adaptive_avg_pool2d_backward(
    grad_output: npt.ArrayLike, input_shape: _Shape, /, *, axes: Axes = (-2, -1)
) -> _Floating: ...

# --------------------------------------------------------------------- runtime

def get_num_threads() -> int: ...
def set_num_threads(n: Int) -> None: ...
def show_config(file: IO[str] | None = None) -> None: ...
def get_workspace_limit() -> int: ...
def set_workspace_limit(nbytes: Int | None) -> int: ...
