"""Deliberately wrong calls: each line marked ``# error`` must be reported by mypy --strict
and by pyright --strict, and no other line may be (tests/test_typing.py checks both)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

import cyconv
from cyconv import nn

x64: npt.NDArray[np.float64] = np.zeros((1, 3, 8, 8))
w64: npt.NDArray[np.float64] = np.zeros((4, 3, 3, 3))
x32: npt.NDArray[np.float32] = np.zeros((1, 3, 8, 8), np.float32)
w32: npt.NDArray[np.float32] = np.zeros((4, 3, 3, 3), np.float32)
plane: npt.NDArray[np.float64] = np.zeros((8, 8))

cyconv.conv2d(x64, w64, padding="SAME")  # error
cyconv.conv2d(x64, w64, padding="Same")  # error
cyconv.correlate2d(plane, plane, padding="half")  # error
cyconv.conv2d(x64, w64, padding=(1, 2, 3))  # error
cyconv.conv2d(x64, w64, padding=((1, 1), (1, 1), (1, 1)))  # error
cyconv.conv2d(x64, w64, padding_mode="symm")  # error
cyconv.conv2d(x64, w64, padding_mode="wrap")  # error
cyconv.conv2d(x64, w64, stride=1.5)  # error
cyconv.conv2d(x64, w64, stride=(1, 2, 3))  # error
cyconv.conv2d(x64, w64, dilation="2")  # error
cyconv.conv2d(x64, w64, layout="nhwc")  # error
cyconv.conv2d(x=x64, weight=w64)  # error
cyconv.correlate2d(plane, plane, 1)  # error
cyconv.max_pool2d(plane, 2, 2)  # error
cyconv.conv2d_backward(x64, x64, w64, compute=("grad",))  # error
cyconv.output_size(8, (3, 3))  # error
cyconv.set_num_threads("2")  # error
cyconv.avg_pool2d(plane, 2, divisor_override=2.5)  # error
cyconv.adaptive_avg_pool2d(plane, (2, 2, 2))  # error
y: npt.NDArray[np.float64] = cyconv.conv2d(x32, w32)  # error
cyconv.max_pool2d(plane, 2, return_indices=True).shape  # error
g = cyconv.conv2d_backward(x64, x64, w64, compute=("input", "weight"))
print(g.input.shape)  # error
print(g.gradient)  # error
cyconv.no_such_function(plane)  # error
cyconv.nn.Conv3d(1, 2, 3)  # error
nn.Conv2d(1, 2, 3, 1)  # error
nn.Conv2d(1, 2, 3, padding="SAME")  # error
nn.SGD(nn.Linear(2, 2).parameters())  # error
nn.Sequential(nn.ReLU()).backward(np.ones(2), input_grad=False).shape  # error
nn.MaxPool2d(2).forward(np.ones((1, 1, 2, 2))).no_attribute  # error
n: str = cyconv.output_size(8, 3)  # error
ok: Any = cyconv.conv2d(x64, w64, padding="same_upper")
print(y, n, ok)
