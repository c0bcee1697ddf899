"""Type aliases for the option forms of cyconv's public API.

The stubs (``*.pyi``) use them; they are plain ``typing`` aliases, so user code may
import them too (``from cyconv._typing import Padding``), although the module is
private and may change. Nothing in cyconv imports this module at run time.
"""

from typing import Any, Literal, Union

import numpy as np

__all__ = [
    "Axes",
    "Compute",
    "Int",
    "IntOrPair",
    "Layout",
    "Padding",
    "PaddingMode",
    "PaddingString",
    "PoolOutputSize",
    "SidePadding",
]

#: A Python or NumPy integer (``operator.index``; a bool is refused at run time).
Int = Union[int, np.integer[Any]]
#: ``stride``, ``dilation``, ``kernel_size``: an int or an ``(h, w)`` pair.
IntOrPair = Union[Int, tuple[Int, Int]]
#: The padding strings (exact, lower-case).
PaddingString = Literal["valid", "same", "same_lower", "same_upper", "full"]
#: One axis of padding: the same on both sides, or ``(before, after)``.
SidePadding = Union[Int, tuple[Int, Int]]
#: ``padding``: an int, ``(ph, pw)``, ``((top, bottom), (left, right))`` or a string.
Padding = Union[Int, tuple[SidePadding, SidePadding], PaddingString]
#: ``padding_mode`` (PyTorch's names, plus ``'symmetric'``).
PaddingMode = Literal["zeros", "reflect", "replicate", "circular", "symmetric"]
#: ``layout`` of the batch functions and layers.
Layout = Literal["NCHW", "NHWC"]
#: ``axes`` of the plane functions: the two spatial axes of ``x``.
Axes = tuple[int, int]
#: ``compute`` names of :func:`cyconv.conv2d_backward`.
Compute = Literal["input", "weight", "bias"]
#: ``output_size`` of the adaptive pools: an int, or a pair where ``None`` keeps the axis.
PoolOutputSize = Union[Int, tuple[Union[Int, None], Union[Int, None]]]
