# Type stubs for cyconv.nn (layers, losses, optimisers), following SPEC.md's "Layers".
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal, overload

import numpy as np
import numpy.typing as npt
from typing_extensions import Self

from ._typing import Int, IntOrPair, Layout, Padding, PaddingMode, PoolOutputSize

__all__ = [
    "Parameter",
    "Module",
    "Conv2d",
    "ConvTranspose2d",
    "Linear",
    "MaxPool2d",
    "AvgPool2d",
    "AdaptiveAvgPool2d",
    "BatchNorm2d",
    "Dropout",
    "ReLU",
    "Sigmoid",
    "Flatten",
    "Sequential",
    "Residual",
    "mse_loss",
    "cross_entropy",
    "SGD",
    "Adam",
]

_Array = npt.NDArray[Any]
_Floating = npt.NDArray[np.floating[Any]]
_DType = npt.DTypeLike
_Rng = np.random.Generator | int | None

class Parameter:
    data: _Floating
    grad: _Floating
    def __init__(self, data: npt.ArrayLike) -> None: ...
    @property
    def shape(self) -> tuple[int, ...]: ...
    @property
    def dtype(self) -> np.dtype[Any]: ...
    @property
    def size(self) -> int: ...
    def zero_grad(self) -> None: ...

class Module:
    training: bool
    def __call__(self, x: npt.ArrayLike) -> _Floating: ...
    def forward(self, x: npt.ArrayLike) -> _Floating: ...
    @overload
    def backward(self, grad: npt.ArrayLike, *, input_grad: Literal[True] = True) -> _Floating: ...
    @overload
    def backward(self, grad: npt.ArrayLike, *, input_grad: Literal[False]) -> None: ...
    @overload
    def backward(self, grad: npt.ArrayLike, *, input_grad: bool) -> _Floating | None: ...
    def parameters(self) -> list[Parameter]: ...
    def zero_grad(self) -> None: ...
    def output_shape(self, input_shape: Iterable[Int]) -> tuple[int, ...]: ...
    def train(self, mode: bool = True) -> Self: ...
    def eval(self) -> Self: ...
    def modules(self) -> Iterator[Module]: ...
    def named_parameters(self, prefix: str = "") -> list[tuple[str, Parameter]]: ...
    def state_dict(self) -> dict[str, _Array]: ...
    def load_state_dict(self, state_dict: Mapping[str, npt.ArrayLike]) -> None: ...

class Conv2d(Module):
    in_channels: int
    out_channels: int
    kernel_size: tuple[int, int]
    stride: tuple[int, int]
    padding: Padding
    dilation: tuple[int, int]
    groups: int
    padding_mode: PaddingMode
    weight: Parameter
    bias: Parameter | None
    def __init__(
        self,
        in_channels: Int,
        out_channels: Int,
        kernel_size: IntOrPair,
        *,
        stride: IntOrPair = 1,
        padding: Padding = 0,
        dilation: IntOrPair = 1,
        groups: Int = 1,
        bias: bool = True,
        padding_mode: PaddingMode = "zeros",
        layout: Layout = "NCHW",
        dtype: _DType = ...,
        rng: _Rng = None,
    ) -> None: ...

class ConvTranspose2d(Module):
    in_channels: int
    out_channels: int
    kernel_size: tuple[int, int]
    weight: Parameter
    bias: Parameter | None
    def __init__(
        self,
        in_channels: Int,
        out_channels: Int,
        kernel_size: IntOrPair,
        *,
        stride: IntOrPair = 1,
        padding: Padding = 0,
        output_padding: IntOrPair = 0,
        groups: Int = 1,
        bias: bool = True,
        dilation: IntOrPair = 1,
        layout: Layout = "NCHW",
        dtype: _DType = ...,
        rng: _Rng = None,
    ) -> None: ...

class Linear(Module):
    in_features: int
    out_features: int
    weight: Parameter
    bias: Parameter | None
    def __init__(
        self,
        in_features: Int,
        out_features: Int,
        *,
        bias: bool = True,
        dtype: _DType = ...,
        rng: _Rng = None,
    ) -> None: ...

class MaxPool2d(Module):
    kernel_size: tuple[int, int]
    stride: tuple[int, int]
    def __init__(
        self,
        kernel_size: IntOrPair,
        *,
        stride: IntOrPair | None = None,
        padding: Padding = 0,
        dilation: IntOrPair = 1,
        ceil_mode: bool = False,
        layout: Layout = "NCHW",
    ) -> None: ...

class AvgPool2d(Module):
    kernel_size: tuple[int, int]
    stride: tuple[int, int]
    def __init__(
        self,
        kernel_size: IntOrPair,
        *,
        stride: IntOrPair | None = None,
        padding: Padding = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: Int | None = None,
        layout: Layout = "NCHW",
    ) -> None: ...

class AdaptiveAvgPool2d(Module):
    def __init__(self, output_size: PoolOutputSize, *, layout: Layout = "NCHW") -> None: ...

class BatchNorm2d(Module):
    num_features: int
    eps: float
    momentum: float
    weight: Parameter
    bias: Parameter
    running_mean: _Floating
    running_var: _Floating
    def __init__(
        self,
        num_features: Int,
        *,
        eps: float = 1e-5,
        momentum: float = 0.1,
        dtype: _DType = ...,
        layout: Layout = "NCHW",
    ) -> None: ...

class Dropout(Module):
    p: float
    def __init__(self, p: float = 0.5, *, rng: _Rng = None) -> None: ...

class ReLU(Module):
    def __init__(self) -> None: ...

class Sigmoid(Module):
    def __init__(self) -> None: ...

class Flatten(Module):
    def __init__(self, layout: Layout = "NCHW") -> None: ...

class Sequential(Module):
    layers: list[Module]
    def __init__(self, *layers: Module) -> None: ...
    def __len__(self) -> int: ...
    def __getitem__(self, i: int) -> Module: ...
    def __iter__(self) -> Iterator[Module]: ...
    def summary(self, input_shape: Iterable[Int]) -> str: ...

class Residual(Module):
    body: Module
    shortcut: Module | None
    def __init__(self, body: Module, shortcut: Module | None = None) -> None: ...

def mse_loss(
    pred: npt.ArrayLike, target: npt.ArrayLike, *, reduction: Literal["mean", "sum"] = "mean"
) -> tuple[float, _Floating]: ...
def cross_entropy(logits: npt.ArrayLike, labels: npt.ArrayLike) -> tuple[float, _Floating]: ...

class SGD:
    parameters: list[Parameter]
    lr: float
    momentum: float
    weight_decay: float
    def __init__(
        self,
        parameters: Iterable[Parameter],
        lr: float,
        *,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
    ) -> None: ...
    def step(self) -> None: ...
    def zero_grad(self) -> None: ...

class Adam:
    parameters: list[Parameter]
    lr: float
    betas: tuple[float, float]
    eps: float
    weight_decay: float
    def __init__(
        self,
        parameters: Iterable[Parameter],
        lr: float = 1e-3,
        *,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None: ...
    def step(self) -> None: ...
    def zero_grad(self) -> None: ...
