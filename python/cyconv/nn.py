"""Small, explicit neural-network layers on top of cyconv's kernels (NumPy only).

Every layer has ``forward(x)`` (also ``layer(x)``), ``backward(grad)`` and
``parameters()``. ``forward`` remembers what ``backward`` needs; ``backward``
returns the gradient with respect to the layer's input and *adds* the gradients
of the parameters to their ``.grad`` (call ``zero_grad()`` between steps).

>>> import numpy as np
>>> from cyconv import nn
>>> rng = np.random.default_rng(0)
>>> model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, rng=rng), nn.ReLU(),
...                       nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 10, rng=rng))
>>> x = rng.standard_normal((5, 1, 8, 8)).astype(np.float32)
>>> loss, grad = nn.cross_entropy(model(x), np.array([0, 1, 2, 3, 4]))
>>> model.zero_grad()
>>> _ = model.backward(grad)
>>> nn.SGD(model.parameters(), lr=0.1, momentum=0.9).step()
"""

import math
import numbers

import numpy as np

from ._conv_args import padding_mode_of
from ._convolution import conv2d
from ._convolution_grad import conv2d_backward
from ._pooling import avg_pool2d, avg_pool2d_backward, max_pool2d, max_pool2d_backward
from ._receptive_field import _IDENTITY, _compose, _layer_geometry
from ._shapes import (
    _int,
    _pair,
    _padding,
    _pool_args,
    _positive,
    conv2d_output_shape,
    pool2d_output_shape,
)

__all__ = [
    "Parameter",
    "Module",
    "Conv2d",
    "Linear",
    "MaxPool2d",
    "AvgPool2d",
    "ReLU",
    "Sigmoid",
    "Flatten",
    "Sequential",
    "mse_loss",
    "cross_entropy",
    "SGD",
]


# --------------------------------------------------------------------------- helpers


def _float_dtype(dtype):
    dt = np.dtype(dtype)
    if dt.kind != "f":
        raise TypeError(f"dtype must be a floating dtype such as numpy.float32, got {dt}")
    return dt


def _generator(rng):
    """A numpy Generator from None (fresh entropy), an int seed or a Generator."""
    if rng is None or isinstance(rng, np.random.Generator):
        return np.random.default_rng(rng)
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be a numpy.random.Generator, an int seed or None, got {type(rng).__name__}")


def _uniform(rng, bound, shape, dtype):
    """PyTorch's default init: U(-bound, bound) with bound = 1/sqrt(fan_in)."""
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


def _real_array(value, name):
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must have a real numeric dtype, got dtype {arr.dtype}")
    return arr


def _float_array(value, name):
    """The array in a floating dtype (integers and bool become float64)."""
    arr = _real_array(value, name)
    return arr if arr.dtype.kind == "f" else arr.astype(np.float64)


class Parameter:
    """A trainable array and its gradient.

    Parameters
    ----------
    data : array_like
        The values (a floating array is used as is, without a copy).

    Attributes
    ----------
    data : numpy.ndarray
    grad : numpy.ndarray
        Same shape and dtype as ``data``, zero to begin with; layers add to it.
    """

    def __init__(self, data):
        self.data = _float_array(data, "data")
        self.grad = np.zeros_like(self.data)

    @property
    def shape(self):
        """``data.shape``."""
        return self.data.shape

    @property
    def dtype(self):
        """``data.dtype``."""
        return self.data.dtype

    @property
    def size(self):
        """``data.size``, the number of values."""
        return self.data.size

    def zero_grad(self):
        """Set ``grad`` to zero (in place)."""
        self.grad[...] = 0

    def __repr__(self):
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


class Module:
    """Base class: ``__call__`` is ``forward``; no parameters; shape unchanged."""

    # How receptive_field treats the layer: 'spatial' (kernel_size/stride/padding/
    # dilation attributes), 'pointwise' (passes the field through) or 'global'.
    _receptive_field_kind = "pointwise"

    def __call__(self, x):
        return self.forward(x)

    def forward(self, x):
        """The layer's output for the input ``x``; remembers what ``backward`` needs."""
        raise NotImplementedError

    def backward(self, grad, *, input_grad=True):
        """Backpropagate ``grad``, the loss gradient with respect to the layer's output.

        Adds the parameters' gradients to their ``.grad`` and returns the gradient with
        respect to the layer's input (``None`` with ``input_grad=False``, which skips it).
        """
        raise NotImplementedError

    def parameters(self):
        """The layer's :class:`Parameter` objects, in a fixed order."""
        return []

    def zero_grad(self):
        """Set every parameter's gradient to zero."""
        for p in self.parameters():
            p.zero_grad()

    def output_shape(self, input_shape):
        """The shape ``forward`` returns for an input of ``input_shape``."""
        return tuple(input_shape)

    def _saved(self, attr):
        value = getattr(self, attr, None)
        if value is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        return value

    def __repr__(self):
        return f"{type(self).__name__}()"


# --------------------------------------------------------------------------- layers


class Conv2d(Module):
    """2-D convolution layer (cross-correlation, as in deep learning), PyTorch-style.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or (int, int)
    stride, padding, dilation, groups, padding_mode
        As for :func:`cyconv.conv2d`.
    bias : bool
        Learn a bias per output channel.
    dtype : floating dtype
        Of the parameters (default float32).
    rng : numpy.random.Generator, int or None
        Source of the initial values (PyTorch's default: weight and bias from
        ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, ``fan_in = in_channels/groups*kh*kw``);
        None draws fresh entropy.

    Attributes
    ----------
    weight : Parameter
        ``(out_channels, in_channels/groups, kh, kw)``.
    bias : Parameter or None
        ``(out_channels,)``.

    Examples
    --------
    >>> import numpy as np
    >>> conv = Conv2d(1, 1, (1, 2), bias=False, rng=np.random.default_rng(0))
    >>> conv.weight.data[...] = [[[[1.0, -1.0]]]]
    >>> conv(np.array([[[[1.0, 1.0, 0.0, 0.0]]]], dtype=np.float32))
    array([[[[0., 1., 0.]]]], dtype=float32)
    """

    _receptive_field_kind = "spatial"

    def __init__(self, in_channels, out_channels, kernel_size, *, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", dtype=np.float32, rng=None):
        self.in_channels = _positive(in_channels, "in_channels")
        self.out_channels = _positive(out_channels, "out_channels")
        self.groups = _positive(groups, "groups")
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(
                f"groups={self.groups} must divide in_channels={self.in_channels} "
                f"and out_channels={self.out_channels}"
            )
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride = _pair(stride, "stride")
        self.dilation = _pair(dilation, "dilation")
        _padding(padding, self.kernel_size, self.dilation)  # validate now, keep the user's form
        self.padding = padding
        self.padding_mode = padding_mode_of(padding_mode)
        dtype = _float_dtype(dtype)
        rng = _generator(rng)
        c_per_group = self.in_channels // self.groups
        bound = 1.0 / math.sqrt(c_per_group * self.kernel_size[0] * self.kernel_size[1])
        shape = (self.out_channels, c_per_group) + self.kernel_size
        self.weight = Parameter(_uniform(rng, bound, shape, dtype))
        self.bias = Parameter(_uniform(rng, bound, (self.out_channels,), dtype)) if bias else None
        self._x = None

    def _options(self):
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation,
                    groups=self.groups, padding_mode=self.padding_mode)

    def forward(self, x):
        self._x = x = _real_array(x, "x")
        b = None if self.bias is None else self.bias.data
        return conv2d(x, self.weight.data, b, **self._options())

    def backward(self, grad, *, input_grad=True):
        """Add the weight/bias gradients; return the input gradient (None if not ``input_grad``)."""
        x = self._saved("_x")
        compute = ("input",) * bool(input_grad) + ("weight",) + ("bias",) * (self.bias is not None)
        g = conv2d_backward(grad, x, self.weight.data, compute=compute, **self._options())
        self.weight.grad += g.weight
        if self.bias is not None:
            self.bias.grad += g.bias
        return g.input

    def parameters(self):
        return [self.weight] if self.bias is None else [self.weight, self.bias]

    def output_shape(self, input_shape):
        o = self._options()
        del o["padding_mode"]
        return conv2d_output_shape(input_shape, self.weight.shape, **o)

    def __repr__(self):
        s = f"Conv2d({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"
        for name, default in (("stride", (1, 1)), ("padding", 0), ("dilation", (1, 1)), ("groups", 1),
                              ("padding_mode", "zeros")):
            value = getattr(self, name)
            if value != default:
                s += f", {name}={value!r}"
        if self.bias is None:
            s += ", bias=False"
        return s + ")"


class Linear(Module):
    """Fully connected layer ``y = x @ weight.T + bias`` on the last axis.

    Parameters
    ----------
    in_features, out_features : int
    bias : bool
    dtype : floating dtype
        Of the parameters (default float32).
    rng : numpy.random.Generator, int or None
        Initial values from ``U(-1/sqrt(in_features), 1/sqrt(in_features))``
        (PyTorch's default).

    Attributes
    ----------
    weight : Parameter
        ``(out_features, in_features)``.
    bias : Parameter or None
        ``(out_features,)``.

    Examples
    --------
    >>> import numpy as np
    >>> fc = Linear(3, 2, rng=0)
    >>> fc(np.ones((4, 3), np.float32)).shape
    (4, 2)
    """

    _receptive_field_kind = "global"

    def __init__(self, in_features, out_features, *, bias=True, dtype=np.float32, rng=None):
        self.in_features = _positive(in_features, "in_features")
        self.out_features = _positive(out_features, "out_features")
        dtype = _float_dtype(dtype)
        rng = _generator(rng)
        bound = 1.0 / math.sqrt(self.in_features)
        self.weight = Parameter(_uniform(rng, bound, (self.out_features, self.in_features), dtype))
        self.bias = Parameter(_uniform(rng, bound, (self.out_features,), dtype)) if bias else None
        self._x = None

    def _check(self, shape):
        if len(shape) < 1 or shape[-1] != self.in_features:
            raise ValueError(
                f"Linear({self.in_features}, {self.out_features}) expects inputs of shape "
                f"(..., {self.in_features}), got {tuple(shape)}"
            )

    def forward(self, x):
        x = _real_array(x, "x")
        self._check(x.shape)
        self._x = x
        y = x @ self.weight.data.T
        if self.bias is not None:
            y += self.bias.data
        return y

    def backward(self, grad, *, input_grad=True):
        x = self._saved("_x")
        grad = np.asarray(grad)
        expected = x.shape[:-1] + (self.out_features,)
        if grad.shape != expected:
            raise ValueError(f"grad must have the output shape {expected}, got {grad.shape}")
        g2 = grad.reshape(-1, self.out_features)
        self.weight.grad += g2.T @ x.reshape(-1, self.in_features)
        if self.bias is not None:
            self.bias.grad += g2.sum(axis=0)
        return (grad @ self.weight.data) if input_grad else None

    def parameters(self):
        return [self.weight] if self.bias is None else [self.weight, self.bias]

    def output_shape(self, input_shape):
        self._check(input_shape)
        return tuple(input_shape[:-1]) + (self.out_features,)

    def __repr__(self):
        s = f"Linear({self.in_features}, {self.out_features}"
        return s + (", bias=False)" if self.bias is None else ")")


class MaxPool2d(Module):
    """Max pooling layer; the options are those of :func:`cyconv.max_pool2d`.

    Examples
    --------
    >>> import numpy as np
    >>> MaxPool2d(3, padding=1, stride=2)(np.arange(16.0).reshape(1, 1, 4, 4))
    array([[[[ 5.,  7.],
             [13., 15.]]]])
    """

    _receptive_field_kind = "spatial"

    def __init__(self, kernel_size, *, stride=None, padding=0, dilation=1, ceil_mode=False):
        k, s, pads, d = _pool_args(kernel_size, stride, padding, dilation)
        self.kernel_size, self.stride, self.dilation = k, s, d
        self.padding = padding
        self.ceil_mode = bool(ceil_mode)
        self._indices = self._input_shape = None

    def _options(self):
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation,
                    ceil_mode=self.ceil_mode)

    def forward(self, x):
        x = _real_array(x, "x")
        y, self._indices = max_pool2d(x, self.kernel_size, return_indices=True, **self._options())
        self._input_shape = x.shape
        return y

    def backward(self, grad, *, input_grad=True):
        indices = self._saved("_indices")
        if not input_grad:
            return None
        return max_pool2d_backward(grad, indices, self._input_shape)

    def output_shape(self, input_shape):
        return pool2d_output_shape(input_shape, self.kernel_size, **self._options())

    def __repr__(self):
        return _pool_repr(self)


class AvgPool2d(Module):
    """Average pooling layer; the options are those of :func:`cyconv.avg_pool2d`.

    Examples
    --------
    >>> import numpy as np
    >>> AvgPool2d(2)(np.arange(16.0).reshape(1, 1, 4, 4))
    array([[[[ 2.5,  4.5],
             [10.5, 12.5]]]])
    """

    _receptive_field_kind = "spatial"

    def __init__(self, kernel_size, *, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        k, s, pads, d = _pool_args(kernel_size, stride, padding, 1)
        self.kernel_size, self.stride = k, s
        self.padding = padding
        self.ceil_mode = bool(ceil_mode)
        self.count_include_pad = bool(count_include_pad)
        if divisor_override is not None:
            divisor_override = _positive(divisor_override, "divisor_override")
        self.divisor_override = divisor_override
        self._input_shape = None

    def _options(self):
        return dict(stride=self.stride, padding=self.padding, ceil_mode=self.ceil_mode,
                    count_include_pad=self.count_include_pad, divisor_override=self.divisor_override)

    def forward(self, x):
        x = _real_array(x, "x")
        self._input_shape = x.shape
        return avg_pool2d(x, self.kernel_size, **self._options())

    def backward(self, grad, *, input_grad=True):
        shape = self._saved("_input_shape")
        if not input_grad:
            return None
        return avg_pool2d_backward(grad, shape, self.kernel_size, **self._options())

    def output_shape(self, input_shape):
        return pool2d_output_shape(input_shape, self.kernel_size, stride=self.stride,
                                   padding=self.padding, ceil_mode=self.ceil_mode)

    def __repr__(self):
        return _pool_repr(self)


def _pool_repr(layer):
    s = f"{type(layer).__name__}(kernel_size={layer.kernel_size}"
    if layer.stride != layer.kernel_size:
        s += f", stride={layer.stride}"
    if layer.padding != 0:
        s += f", padding={layer.padding!r}"
    if getattr(layer, "dilation", (1, 1)) != (1, 1):
        s += f", dilation={layer.dilation}"
    if layer.ceil_mode:
        s += ", ceil_mode=True"
    return s + ")"


class ReLU(Module):
    """``max(x, 0)`` element-wise; the gradient at 0 is 0 and NaN propagates (as PyTorch).

    >>> ReLU()([-1.0, 0.0, 2.0, np.nan])
    array([ 0.,  0.,  2., nan])
    """

    def __init__(self):
        self._mask = None

    def forward(self, x):
        x = _float_array(x, "x")
        # NaN propagates, forward and backward, as in PyTorch
        self._mask = ~(x <= 0)
        return np.maximum(x, 0)

    def backward(self, grad, *, input_grad=True):
        mask = self._saved("_mask")
        return np.where(mask, grad, 0) if input_grad else None


class Sigmoid(Module):
    """``1 / (1 + exp(-x))`` element-wise, without overflow for large ``|x|``.

    >>> Sigmoid()([-1000.0, 0.0, 1000.0])
    array([0. , 0.5, 1. ])
    """

    def __init__(self):
        self._y = None

    def forward(self, x):
        x = _float_array(x, "x")
        e = np.exp(-np.abs(x))  # in (0, 1]: never overflows
        one = x.dtype.type(1)
        self._y = y = np.where(x >= 0, one / (one + e), e / (one + e))
        return y

    def backward(self, grad, *, input_grad=True):
        y = self._saved("_y")
        return grad * y * (1 - y) if input_grad else None


class Flatten(Module):
    """Reshape ``(N, ...)`` to ``(N, prod(...))``.

    >>> Flatten()(np.zeros((2, 3, 4, 4))).shape
    (2, 48)
    """

    def __init__(self):
        self._input_shape = None

    def forward(self, x):
        x = np.asarray(x)
        if x.ndim < 1:
            raise ValueError("Flatten needs an input with a batch axis, got a 0-d array")
        self._input_shape = x.shape
        return x.reshape(x.shape[0], math.prod(x.shape[1:]))  # also for an empty batch

    def backward(self, grad, *, input_grad=True):
        shape = self._saved("_input_shape")
        return np.asarray(grad).reshape(shape) if input_grad else None

    def output_shape(self, input_shape):
        return (input_shape[0], math.prod(input_shape[1:]))


class Sequential(Module):
    """Layers applied in order; ``backward`` runs them in reverse.

    Parameters
    ----------
    *layers : Module

    Examples
    --------
    >>> net = Sequential(Conv2d(1, 6, 5, padding=2, rng=0), Sigmoid(), AvgPool2d(2, stride=2),
    ...                  Conv2d(6, 16, 5, rng=0), Sigmoid(), AvgPool2d(2, stride=2),
    ...                  Flatten(), Linear(16 * 5 * 5, 10, rng=0))
    >>> print(net.summary((1, 1, 28, 28)))
    #  layer                                        output shape     params  RF size  jump  start
    -  input                                        (1, 1, 28, 28)        0      1x1   1x1    0,0
    0  Conv2d(1, 6, kernel_size=(5, 5), padding=2)  (1, 6, 28, 28)      156      5x5   1x1  -2,-2
    1  Sigmoid()                                    (1, 6, 28, 28)        0      5x5   1x1  -2,-2
    2  AvgPool2d(kernel_size=(2, 2))                (1, 6, 14, 14)        0      6x6   2x2  -2,-2
    3  Conv2d(6, 16, kernel_size=(5, 5))            (1, 16, 10, 10)    2416    14x14   2x2  -2,-2
    4  Sigmoid()                                    (1, 16, 10, 10)       0    14x14   2x2  -2,-2
    5  AvgPool2d(kernel_size=(2, 2))                (1, 16, 5, 5)         0    16x16   4x4  -2,-2
    6  Flatten()                                    (1, 400)              0    16x16   4x4  -2,-2
    7  Linear(400, 10)                              (1, 10)            4010      all     -      -
    total parameters: 6582
    """

    def __init__(self, *layers):
        for i, layer in enumerate(layers):
            if not (callable(getattr(layer, "forward", None)) and callable(getattr(layer, "backward", None))):
                raise TypeError(f"layers[{i}] must be a layer with forward and backward, got {type(layer).__name__}")
        self.layers = list(layers)

    def __len__(self):
        return len(self.layers)

    def __getitem__(self, i):
        return self.layers[i]

    def __iter__(self):
        return iter(self.layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, grad, *, input_grad=True):
        """Backpropagate ``grad`` (the loss gradient w.r.t. the output).

        With ``input_grad=False`` the first layer skips its input gradient (a
        convolution then computes only its weight and bias gradients) and None is
        returned.
        """
        for i in range(len(self.layers) - 1, -1, -1):
            grad = self.layers[i].backward(grad, input_grad=bool(input_grad or i > 0))
        return grad

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]

    def output_shape(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.layers:
            shape = layer.output_shape(shape)
        return shape

    def summary(self, input_shape):
        """A table of every layer's output shape, parameter count and receptive field.

        Parameters
        ----------
        input_shape : tuple of int
            Shape of the input, e.g. ``(N, C, H, W)``. Nothing is computed; the
            shapes come from the shape arithmetic.

        Returns
        -------
        str
            The table (``print`` it; at the interactive prompt it also shows as a table). The receptive field columns give the size and
            jump (rows x columns) and the start (row, column) of the first output
            element's field in input coordinates, as :func:`cyconv.receptive_field`;
            after a layer that sees the whole input (Linear) they read ``all``.
        """
        shape = tuple(_int(v, "input_shape") for v in input_shape)
        rows = [("#", "layer", "output shape", "params", "RF size", "jump", "start"),
                ("-", "input", str(shape), "0", "1x1", "1x1", "0,0")]
        rf = _IDENTITY
        total = 0
        for i, layer in enumerate(self.layers):
            shape = layer.output_shape(shape)
            count = sum(p.size for p in layer.parameters())
            total += count
            rf = _advance(rf, layer, i)
            if rf is None:
                cells = ("all", "-", "-")
            else:
                cells = (f"{rf.size[0]}x{rf.size[1]}", f"{rf.jump[0]}x{rf.jump[1]}",
                         f"{rf.start[0]},{rf.start[1]}")
            name = f"Sequential({len(layer)} layers)" if isinstance(layer, Sequential) else repr(layer)
            rows.append((str(i), name, str(shape), str(count)) + cells)
        widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
        lines = []
        for r in rows:
            left = "  ".join(r[c].ljust(widths[c]) for c in range(3))
            right = "  ".join(r[c].rjust(widths[c]) for c in range(3, len(r)))
            lines.append(f"{left}  {right}")
        lines.append(f"total parameters: {total}")
        return _Table("\n".join(lines))

    def __repr__(self):
        inner = "".join(f"\n  ({i}): {layer!r}" for i, layer in enumerate(self.layers))
        return f"Sequential({inner}\n)"


class _Table(str):
    """A str that the interactive prompt shows as the text itself, not a quoted repr."""

    def __repr__(self):
        return str(self)


def _advance(rf, layer, i):
    """The receptive field after ``layer``; None once a layer has seen everything."""
    if rf is None:
        return None
    if isinstance(layer, Sequential):
        for j, inner in enumerate(layer.layers):
            rf = _advance(rf, inner, j)
        return rf
    try:
        geometry = _layer_geometry(layer, f"layers[{i}]")
    except ValueError:
        return None
    return rf if geometry is None else _compose(rf, *geometry)


# --------------------------------------------------------------------------- losses


def mse_loss(pred, target, *, reduction="mean"):
    """Squared error and its gradient with respect to ``pred``.

    Parameters
    ----------
    pred, target : array_like
        Same shape.
    reduction : {'mean', 'sum'}
        Average over all elements (PyTorch's default) or add them up (the notes'
        ``l.sum()``).

    Returns
    -------
    loss : float
    grad : numpy.ndarray
        ``d loss / d pred``, in ``pred``'s floating dtype.

    Examples
    --------
    >>> loss, grad = mse_loss([1.0, 2.0], [0.0, 0.0])
    >>> loss, grad
    (2.5, array([1., 2.]))
    """
    pred = _float_array(pred, "pred")
    target = _real_array(target, "target")
    if pred.shape != target.shape:
        raise ValueError(f"target must have pred's shape {pred.shape}, got {target.shape}")
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    diff = pred - target.astype(pred.dtype, copy=False)
    scale = 1 if reduction == "sum" else 1 / max(diff.size, 1)
    loss = float(np.sum(np.square(diff, dtype=np.float64))) * scale
    return loss, (diff * pred.dtype.type(2 * scale)).astype(pred.dtype, copy=False)


def cross_entropy(logits, labels):
    """Softmax cross-entropy with integer class labels, averaged over the batch.

    Computed from ``logits - max(logits)`` (log-sum-exp), so huge logits neither
    overflow nor lose the result.

    Parameters
    ----------
    logits : array_like, shape (N, C)
    labels : array_like of int, shape (N,)
        Class indices in ``[0, C)``.

    Returns
    -------
    loss : float
        ``mean_n(logsumexp(logits[n]) - logits[n, labels[n]])``.
    grad : numpy.ndarray, shape (N, C)
        ``(softmax(logits) - onehot(labels)) / N`` in ``logits``' floating dtype.

    Examples
    --------
    >>> loss, grad = cross_entropy([[0.0, 0.0], [1e4, 0.0]], [0, 0])
    >>> round(loss, 6)
    0.346574
    >>> grad
    array([[-0.25,  0.25],
           [ 0.  ,  0.  ]])
    """
    logits = _float_array(logits, "logits")
    labels = np.asarray(labels)
    if logits.ndim != 2:
        raise ValueError(f"logits must have shape (N, C), got {logits.shape}")
    n, c = logits.shape
    if labels.dtype.kind not in "iu":
        raise TypeError(f"labels must be integer class indices, got dtype {labels.dtype}")
    if labels.shape != (n,):
        raise ValueError(f"labels must have shape ({n},) to match logits {logits.shape}, got {labels.shape}")
    if n == 0:
        raise ValueError("cross_entropy needs at least one sample")
    if labels.size and (labels.min() < 0 or labels.max() >= c):
        raise ValueError(f"labels must lie in [0, {c}), got values from {labels.min()} to {labels.max()}")
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    s = e.sum(axis=1, keepdims=True)
    rows = np.arange(n)
    loss = float(np.mean(np.log(s[:, 0], dtype=np.float64) - z[rows, labels]))
    grad = e / s
    grad[rows, labels] -= 1
    grad /= n
    return loss, grad


# --------------------------------------------------------------------------- optimiser


def _nonnegative(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    if not value >= 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return float(value)


class SGD:
    """Stochastic gradient descent with momentum and weight decay (PyTorch's rule).

    Each step, for every parameter ``p``::

        g = p.grad + weight_decay * p.data
        buf = g                    (first step)
        buf = momentum * buf + g   (later steps)
        p.data -= lr * buf         (with momentum; else lr * g)

    Parameters
    ----------
    parameters : iterable of Parameter
    lr : float
        Learning rate (>= 0).
    momentum, weight_decay : float
        Each >= 0.

    Examples
    --------
    >>> p = Parameter(np.array([1.0]))
    >>> p.grad[:] = 0.5
    >>> opt = SGD([p], lr=0.1, momentum=0.9)
    >>> opt.step(); opt.step()
    >>> p.data
    array([0.855])
    """

    def __init__(self, parameters, lr, *, momentum=0.0, weight_decay=0.0):
        self.parameters = list(parameters)
        for i, p in enumerate(self.parameters):
            if not isinstance(p, Parameter):
                raise TypeError(f"parameters[{i}] must be a cyconv.nn.Parameter, got {type(p).__name__}")
        self.lr = _nonnegative(lr, "lr")
        self.momentum = _nonnegative(momentum, "momentum")
        self.weight_decay = _nonnegative(weight_decay, "weight_decay")
        self._buffers = [None] * len(self.parameters)

    def step(self):
        """Update every parameter from its ``.grad``."""
        for i, p in enumerate(self.parameters):
            g = p.grad
            if self.weight_decay:
                g = g + self.weight_decay * p.data
            if self.momentum:
                buf = self._buffers[i]
                if buf is None:
                    buf = self._buffers[i] = np.array(g, copy=True)
                else:
                    buf *= self.momentum
                    buf += g
                g = buf
            p.data -= self.lr * g

    def zero_grad(self):
        """Set every parameter's gradient to zero."""
        for p in self.parameters:
            p.zero_grad()
