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

from ._conv_args import layout_of, padding_mode_of
from ._convolution import conv2d
from ._convolution_grad import conv2d_backward, conv_transpose2d
from ._pooling import _divisor_override, avg_pool2d, avg_pool2d_backward, max_pool2d, max_pool2d_backward
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
    "BatchNorm2d",
    "Dropout",
    "AdaptiveAvgPool2d",
    "ConvTranspose2d",
    "Residual",
    "mse_loss",
    "cross_entropy",
    "SGD",
    "Adam",
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


# Layouts. A layer that sees images takes ``layout='NCHW'`` (PyTorch's, the default) or
# ``'NHWC'`` (channels last: TensorFlow/Keras batches, ``(H, W, C)`` images), as Keras'
# ``data_format``: each layer has its own, Sequential passes nothing on. The layout
# describes the input, the output and the gradients; weights keep one layout.
# NHWC is computed natively (the functions' ``layout=`` / ``axes=``), never by transposing.

_SPATIAL_AXES = {"NCHW": (-2, -1), "NHWC": (-3, -2)}  # the (H, W) axes of (N,)C,H,W / (N,)H,W,C


def _as_nchw_shape(shape, layout):
    """The (N, C, H, W) / (C, H, W) reading of a shape in ``layout`` (for the shape arithmetic)."""
    shape = tuple(shape)
    if layout == "NCHW" or len(shape) < 3:
        return shape
    return shape[:-3] + (shape[-1],) + shape[-3:-1]


def _from_nchw_shape(shape, layout):
    """The inverse of :func:`_as_nchw_shape`."""
    shape = tuple(shape)
    if layout == "NCHW" or len(shape) < 3:
        return shape
    return shape[:-3] + shape[-2:] + (shape[-3],)


def _pool_axes(layout):
    """The pool functions' options for a layout: ``{}`` for NCHW, the H and W axes for NHWC."""
    return {} if layout == "NCHW" else {"axes": _SPATIAL_AXES["NHWC"]}


def _layout_repr(layer):
    return "" if layer.layout == "NCHW" else f", layout={layer.layout!r}"


# Linear's products. NumPy's BLAS (OpenBLAS in NumPy's wheels) wakes its own thread pool
# for a product of more than 4 * 65536 multiply-adds; between cyconv's OpenMP kernels those
# threads and cyconv's spin against each other (measured: a 32x256 @ 256x128 product that
# takes 0.03 ms on one thread took 7-23 ms inside the training loop, dev-notes/nn.md). Products
# up to _SMALL_PRODUCT are therefore run as a stack of row blocks below that threshold (one
# np.matmul call: NumPy loops over the stack in C, BLAS keeps each block on the calling
# thread, at full single-thread speed); larger ones are worth BLAS's threads.
_BLAS_ONE_THREAD = 4 * 65536
_SMALL_PRODUCT = 1 << 24


def _matmul_blas(a, b):
    """``a @ b`` for 2-D float arrays; small products in row blocks BLAS keeps on one thread."""
    m, k = a.shape
    n = b.shape[1]
    rows = _BLAS_ONE_THREAD // max(n * k, 1)
    if m * n * k <= _BLAS_ONE_THREAD or m * n * k > _SMALL_PRODUCT or rows < 1:
        return a @ b
    out = np.empty((m, n), np.result_type(a, b))
    q = m // rows * rows
    np.matmul(a[:q].reshape(-1, rows, k), b, out=out[:q].reshape(-1, rows, n))
    if q < m:
        np.matmul(a[q:], b, out=out[q:])
    return out


def _matmul_cyconv(a, b):
    """``a @ b`` as a 1x1 NHWC convolution: cyconv's own GEMM on cyconv's thread pool."""
    m, k = a.shape
    n = b.shape[1]
    x = np.ascontiguousarray(a).reshape(m, 1, 1, k)
    w = np.ascontiguousarray(b.T).reshape(n, k, 1, 1)
    return conv2d(x, w, layout="NHWC").reshape(m, n)


def _matmul(a, b):
    """The matrix products of :class:`Linear` (forward and both gradients), 2-D ``a @ b``.

    The one place that chooses how they run: switch to ``_matmul_cyconv`` when its
    measurements win (dev-notes/nn.md).
    """
    return _matmul_blas(a, b)


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
    """Base class: ``__call__`` is ``forward``; no parameters; shape unchanged.

    A layer names its parameters in ``_param_names`` and its other state (such
    as batch norm's running statistics) in ``_buffer_names``; ``_cache`` lists
    what ``forward`` keeps for ``backward`` (kept only in training mode).
    """

    # How receptive_field treats the layer: 'spatial' (kernel_size/stride/padding/
    # dilation attributes), 'pointwise' (passes the field through) or 'global'.
    _receptive_field_kind = "pointwise"
    _param_names = ()
    _buffer_names = ()
    _cache = ()
    training = True

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

    def _children(self):
        """``(name, layer)`` pairs of the layers inside this one, in order."""
        return []

    def modules(self):
        """This layer and every layer inside it, depth first."""
        yield self
        for _, child in self._children():
            if isinstance(child, Module):
                yield from child.modules()
            else:  # a layer of your own with forward/backward, not derived from Module
                yield child

    def train(self, mode=True):
        """Set training mode (``mode=True``) or evaluation mode, here and in every sub-layer.

        In evaluation mode ``forward`` keeps nothing for a backward pass (and
        what an earlier training forward kept is dropped), batch norm uses its
        running statistics and dropout is the identity. Returns the layer.
        """
        if not isinstance(mode, (bool, np.bool_)):
            raise TypeError(f"mode must be a bool, got {type(mode).__name__}")
        for m in self.modules():
            if isinstance(m, Module):
                m.training = bool(mode)
                for attr in m._cache:
                    setattr(m, attr, None)
            elif callable(getattr(m, "train", None)):
                m.train(bool(mode))
        return self

    def eval(self):
        """Evaluation mode: ``train(False)``. Returns the layer."""
        return self.train(False)

    def _keep(self, **values):
        """Remember ``values`` for backward, in training mode only."""
        if self.training:
            for name, value in values.items():
                setattr(self, name, value)

    def named_parameters(self, prefix=""):
        """``(dotted name, Parameter)`` pairs, PyTorch's names and order."""
        out = []
        for name in self._param_names:
            p = getattr(self, name)
            if p is not None:
                out.append((prefix + name, p))
        for name, child in self._children():
            if isinstance(child, Module):
                out.extend(child.named_parameters(f"{prefix}{name}."))
            else:
                params = getattr(child, "parameters", None)
                out.extend((f"{prefix}{name}.{j}", p) for j, p in enumerate(params() if params else []))
        return out

    def parameters(self):
        """The layer's :class:`Parameter` objects, in a fixed order."""
        return [p for _, p in self.named_parameters()]

    def _named_state(self, prefix=""):
        """``(name, array)`` for parameters and buffers, in PyTorch's state_dict order."""
        out = [(prefix + name, getattr(self, name).data) for name in self._param_names
               if getattr(self, name) is not None]
        out += [(prefix + name, getattr(self, name)) for name in self._buffer_names]
        for name, child in self._children():
            if isinstance(child, Module):
                out.extend(child._named_state(f"{prefix}{name}."))
            else:
                params = getattr(child, "parameters", None)
                out.extend((f"{prefix}{name}.{j}", p.data) for j, p in enumerate(params() if params else []))
        return out

    def state_dict(self):
        """Every parameter and buffer as ``{dotted name: copy of the array}``.

        The names are PyTorch's (``'0.weight'``, ``'3.running_mean'``), so
        ``torch_model.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})``
        loads it into the equivalent PyTorch model; ``np.savez(path, **sd)``
        saves it.
        """
        return {name: np.array(value, copy=True) for name, value in self._named_state()}

    def load_state_dict(self, state_dict):
        """Copy arrays from ``state_dict`` (as :meth:`state_dict` returns) into the layer.

        Every name must be present and no other (``KeyError`` listing the missing
        and unexpected names); each array must have the exact shape and dtype
        (``ValueError``). Nothing is changed unless everything matches. Values
        are copied into the existing arrays, so optimisers keep working.
        """
        if not hasattr(state_dict, "keys"):
            raise TypeError(f"state_dict must be a mapping of names to arrays, got {type(state_dict).__name__}")
        targets = dict(self._named_state())
        missing = [k for k in targets if k not in state_dict]
        unexpected = [k for k in state_dict.keys() if k not in targets]
        if missing or unexpected:
            parts = []
            if missing:
                parts.append(f"missing keys {missing}")
            if unexpected:
                parts.append(f"unexpected keys {unexpected}")
            raise KeyError(f"load_state_dict for {type(self).__name__}: " + "; ".join(parts))
        values = {}
        for name, target in targets.items():
            value = np.asarray(state_dict[name])
            if value.shape != target.shape:
                raise ValueError(f"load_state_dict: {name!r} has shape {value.shape}, expected {target.shape}")
            if value.dtype != target.dtype:
                raise ValueError(f"load_state_dict: {name!r} has dtype {value.dtype}, expected {target.dtype}")
            values[name] = value
        for name, target in targets.items():
            target[...] = values[name]

    def zero_grad(self):
        """Set every parameter's gradient to zero."""
        for p in self.parameters():
            p.zero_grad()

    def output_shape(self, input_shape):
        """The shape ``forward`` returns for an input of ``input_shape``."""
        return tuple(input_shape)

    def _saved(self, attr):
        if not self.training:
            raise RuntimeError(
                f"{type(self).__name__}.backward called in evaluation mode: eval() keeps nothing "
                "for a backward pass; call train() before the forward pass to backpropagate"
            )
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
    layout : {'NCHW', 'NHWC'}
        Of the input, the output and their gradients: ``(N, C, H, W)`` (default) or
        channels last ``(N, H, W, C)`` (unbatched: ``(C, H, W)`` / ``(H, W, C)``),
        computed natively by :func:`cyconv.conv2d` ``layout=``. The weight keeps its
        layout, so the state_dict is the same in both.

    Attributes
    ----------
    weight : Parameter
        ``(out_channels, in_channels/groups, kh, kw)`` whatever the layout.
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
    _param_names = ("weight", "bias")
    _cache = ("_x",)

    def __init__(self, in_channels, out_channels, kernel_size, *, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", dtype=np.float32, rng=None, layout="NCHW"):
        self.layout = layout_of(layout)
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
                    groups=self.groups, padding_mode=self.padding_mode, layout=self.layout)

    def forward(self, x):
        x = _real_array(x, "x")
        self._keep(_x=x)
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

    def output_shape(self, input_shape):
        o = self._options()
        del o["padding_mode"], o["layout"]
        shape = conv2d_output_shape(_as_nchw_shape(input_shape, self.layout), self.weight.shape, **o)
        return _from_nchw_shape(shape, self.layout)

    def __repr__(self):
        s = f"Conv2d({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"
        for name, default in (("stride", (1, 1)), ("padding", 0), ("dilation", (1, 1)), ("groups", 1),
                              ("padding_mode", "zeros")):
            value = getattr(self, name)
            if value != default:
                s += f", {name}={value!r}"
        if self.bias is None:
            s += ", bias=False"
        return s + _layout_repr(self) + ")"


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

    Notes
    -----
    Linear has no layout: after ``Flatten`` of NHWC images its input features are in
    ``(h, w, c)`` order, not PyTorch's ``(c, h, w)`` (see :class:`Flatten` for
    converting such weights).

    Examples
    --------
    >>> import numpy as np
    >>> fc = Linear(3, 2, rng=0)
    >>> fc(np.ones((4, 3), np.float32)).shape
    (4, 2)
    """

    _receptive_field_kind = "global"
    _param_names = ("weight", "bias")
    _cache = ("_x",)

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
        self._keep(_x=x)
        x2 = x.reshape(-1, self.in_features)
        if x2.dtype.kind != "f":
            x2 = x2.astype(np.float64)
        y = _matmul(x2, self.weight.data.T).reshape(x.shape[:-1] + (self.out_features,))
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
        x2 = x.reshape(-1, self.in_features)
        if x2.dtype.kind != "f":
            x2 = x2.astype(np.float64)
        if g2.dtype.kind != "f":
            g2 = g2.astype(np.float64)
        self.weight.grad += _matmul(g2.T, x2)
        if self.bias is not None:
            self.bias.grad += g2.sum(axis=0)
        if not input_grad:
            return None
        return _matmul(g2, self.weight.data).reshape(x.shape)

    def output_shape(self, input_shape):
        self._check(input_shape)
        return tuple(input_shape[:-1]) + (self.out_features,)

    def __repr__(self):
        s = f"Linear({self.in_features}, {self.out_features}"
        return s + (", bias=False)" if self.bias is None else ")")


class MaxPool2d(Module):
    """Max pooling layer; the options are those of :func:`cyconv.max_pool2d`.

    ``layout='NHWC'`` pools the H and W axes of ``(N, H, W, C)`` / ``(H, W, C)`` inputs in
    place (``axes=(-3, -2)`` of the pool functions; NotImplementedError where this build's
    pool functions have no ``axes=``).

    Examples
    --------
    >>> import numpy as np
    >>> MaxPool2d(3, padding=1, stride=2)(np.arange(16.0).reshape(1, 1, 4, 4))
    array([[[[ 5.,  7.],
             [13., 15.]]]])
    """

    _receptive_field_kind = "spatial"

    def __init__(self, kernel_size, *, stride=None, padding=0, dilation=1, ceil_mode=False, layout="NCHW"):
        k, s, pads, d = _pool_args(kernel_size, stride, padding, dilation)
        self.kernel_size, self.stride, self.dilation = k, s, d
        self.padding = padding
        self.ceil_mode = bool(ceil_mode)
        self.layout = layout_of(layout)
        self._axes = _pool_axes(self.layout)
        self._indices = self._input_shape = None

    _cache = ("_indices", "_input_shape")

    def _options(self):
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation,
                    ceil_mode=self.ceil_mode)

    def forward(self, x):
        x = _real_array(x, "x")
        if not self.training:
            return max_pool2d(x, self.kernel_size, **self._options(), **self._axes)
        y, indices = max_pool2d(x, self.kernel_size, return_indices=True, **self._options(), **self._axes)
        self._keep(_indices=indices, _input_shape=x.shape)
        return y

    def backward(self, grad, *, input_grad=True):
        indices = self._saved("_indices")
        if not input_grad:
            return None
        return max_pool2d_backward(grad, indices, self._input_shape, **self._axes)

    def output_shape(self, input_shape):
        shape = pool2d_output_shape(_as_nchw_shape(input_shape, self.layout), self.kernel_size,
                                    **self._options())
        return _from_nchw_shape(shape, self.layout)

    def __repr__(self):
        return _pool_repr(self)


class AvgPool2d(Module):
    """Average pooling layer; the options are those of :func:`cyconv.avg_pool2d`.

    ``layout='NHWC'``: as for :class:`MaxPool2d`.

    Examples
    --------
    >>> import numpy as np
    >>> AvgPool2d(2)(np.arange(16.0).reshape(1, 1, 4, 4))
    array([[[[ 2.5,  4.5],
             [10.5, 12.5]]]])
    """

    _receptive_field_kind = "spatial"

    def __init__(self, kernel_size, *, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None, layout="NCHW"):
        k, s, pads, d = _pool_args(kernel_size, stride, padding, 1)
        self.kernel_size, self.stride = k, s
        self.padding = padding
        self.ceil_mode = bool(ceil_mode)
        self.count_include_pad = bool(count_include_pad)
        self.divisor_override = _divisor_override(divisor_override)
        self.layout = layout_of(layout)
        self._axes = _pool_axes(self.layout)
        self._input_shape = None

    _cache = ("_input_shape",)

    def _options(self):
        return dict(stride=self.stride, padding=self.padding, ceil_mode=self.ceil_mode,
                    count_include_pad=self.count_include_pad, divisor_override=self.divisor_override)

    def forward(self, x):
        x = _real_array(x, "x")
        self._keep(_input_shape=x.shape)
        return avg_pool2d(x, self.kernel_size, **self._options(), **self._axes)

    def backward(self, grad, *, input_grad=True):
        shape = self._saved("_input_shape")
        if not input_grad:
            return None
        return avg_pool2d_backward(grad, shape, self.kernel_size, **self._options(), **self._axes)

    def output_shape(self, input_shape):
        shape = pool2d_output_shape(_as_nchw_shape(input_shape, self.layout), self.kernel_size,
                                    stride=self.stride, padding=self.padding, ceil_mode=self.ceil_mode)
        return _from_nchw_shape(shape, self.layout)

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
    return s + _layout_repr(layer) + ")"


class ReLU(Module):
    """``max(x, 0)`` element-wise; the gradient at 0 is 0 and NaN propagates (as PyTorch).

    >>> ReLU()([-1.0, 0.0, 2.0, np.nan])
    array([ 0.,  0.,  2., nan])
    """

    _cache = ("_mask",)

    def __init__(self):
        self._mask = None

    def forward(self, x):
        x = _float_array(x, "x")
        # NaN propagates, forward and backward, as in PyTorch
        if self.training:
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

    _cache = ("_y",)

    def __init__(self):
        self._y = None

    def forward(self, x):
        x = _float_array(x, "x")
        e = np.exp(-np.abs(x))  # in (0, 1]: never overflows
        one = x.dtype.type(1)
        y = np.where(x >= 0, one / (one + e), e / (one + e))
        self._keep(_y=y)
        return y

    def backward(self, grad, *, input_grad=True):
        y = self._saved("_y")
        return grad * y * (1 - y) if input_grad else None


class Flatten(Module):
    """Reshape ``(N, ...)`` to ``(N, prod(...))``, in the input's own (C) order.

    Parameters
    ----------
    layout : {'NCHW', 'NHWC'}
        The layout of the images it receives; it states, and does not change, the order
        of the flattened features. An ``(N, C, H, W)`` batch flattens to index
        ``c*H*W + h*W + w`` (PyTorch's ``nn.Flatten``); an ``(N, H, W, C)`` batch to
        ``(h*W + w)*C + c`` (Keras' ``Flatten`` with ``channels_last``). Either way
        the result is a view, nothing is transposed.

    Notes
    -----
    A :class:`Linear` after an NHWC ``Flatten`` therefore reads its inputs in
    ``(h, w, c)`` order: its weight columns are ordered so. The two layouts give the
    same model, and the same state_dict, only when the flattened images are 1x1
    (after ``AdaptiveAvgPool2d(1)``, as in ResNets). Otherwise, to load the weight of
    a PyTorch ``Linear(C*H*W, out)`` (or of an NCHW cyconv model) into an NHWC model,
    permute its columns::

        w_nhwc = w_nchw.reshape(out, C, H, W).transpose(0, 2, 3, 1).reshape(out, C*H*W)

    and back with ``w_nhwc.reshape(out, H, W, C).transpose(0, 3, 1, 2).reshape(out, -1)``
    (the bias is unchanged).

    >>> Flatten()(np.zeros((2, 3, 4, 4))).shape
    (2, 48)
    >>> Flatten(layout="NHWC")(np.arange(8).reshape(1, 2, 2, 2))
    array([[0, 1, 2, 3, 4, 5, 6, 7]])
    """

    _cache = ("_input_shape",)

    def __init__(self, layout="NCHW"):
        self.layout = layout_of(layout)
        self._input_shape = None

    def forward(self, x):
        x = np.asarray(x)
        if x.ndim < 1:
            raise ValueError("Flatten needs an input with a batch axis, got a 0-d array")
        self._keep(_input_shape=x.shape)
        return x.reshape(x.shape[0], math.prod(x.shape[1:]))  # also for an empty batch

    def backward(self, grad, *, input_grad=True):
        shape = self._saved("_input_shape")
        return np.asarray(grad).reshape(shape) if input_grad else None

    def output_shape(self, input_shape):
        return (input_shape[0], math.prod(input_shape[1:]))

    def __repr__(self):
        return f"Flatten({'' if self.layout == 'NCHW' else 'layout=' + repr(self.layout)})"


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

    def _children(self):
        return [(str(i), layer) for i, layer in enumerate(self.layers)]

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
        if not self.training:
            raise RuntimeError(
                "Sequential.backward called in evaluation mode: eval() keeps nothing for a "
                "backward pass; call train() before the forward pass to backpropagate"
            )
        for i in range(len(self.layers) - 1, -1, -1):
            grad = self.layers[i].backward(grad, input_grad=bool(input_grad or i > 0))
        return grad

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
            name = _summary_name(layer)
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


class BatchNorm2d(Module):
    """Batch normalisation over the channels of ``(N, C, H, W)`` batches (PyTorch's ``BatchNorm2d``).

    With ``layout='NHWC'`` the batches are ``(N, H, W, C)`` and the statistics reduce
    over the axes ``(0, 1, 2)`` (Keras' ``BatchNormalization(axis=-1)``), with the same
    parameters, running estimates and state_dict.

    In training mode each channel is normalised with the batch's mean and biased
    variance, and the running estimates are updated as
    ``running = (1 - momentum) * running + momentum * batch`` with the *unbiased*
    variance (``momentum=None``: the cumulative average over all batches). In
    evaluation mode the running estimates are used instead. Then
    ``y = weight * x_hat + bias``.

    Parameters
    ----------
    num_features : int
        ``C``.
    eps : float
        Added to the variance (default 1e-5).
    momentum : float or None
        Of the running estimates (default 0.1).
    dtype : floating dtype
        Of the parameters and running estimates (default float32).
    layout : {'NCHW', 'NHWC'}
        Of the input, the output and their gradients.

    Attributes
    ----------
    weight, bias : Parameter
        ``(C,)``, ones and zeros to begin with.
    running_mean, running_var : numpy.ndarray
        ``(C,)``, zeros and ones to begin with.
    num_batches_tracked : numpy.ndarray
        0-d int64, the number of training batches seen.

    Examples
    --------
    >>> bn = BatchNorm2d(2)
    >>> x = np.arange(16, dtype=np.float32).reshape(2, 2, 2, 2)
    >>> y = bn(x)
    >>> y.mean(axis=(0, 2, 3)).round(6) + 0.0, y.std(axis=(0, 2, 3)).round(4)
    (array([0., 0.], dtype=float32), array([1., 1.], dtype=float32))
    >>> bn.running_mean
    array([0.55, 0.95], dtype=float32)
    """

    _param_names = ("weight", "bias")
    _buffer_names = ("running_mean", "running_var", "num_batches_tracked")
    _cache = ("_xhat", "_invstd")

    def __init__(self, num_features, *, eps=1e-5, momentum=0.1, dtype=np.float32, layout="NCHW"):
        self.layout = layout_of(layout)
        nhwc = self.layout == "NHWC"
        self._channel_axis = 3 if nhwc else 1
        self._reduce_axes = (0, 1, 2) if nhwc else (0, 2, 3)
        self.num_features = _positive(num_features, "num_features")
        self.eps = _nonnegative(eps, "eps")
        if momentum is not None:
            momentum = _nonnegative(momentum, "momentum")
            if momentum > 1:
                raise ValueError(f"momentum must lie in [0, 1] or be None, got {momentum!r}")
        self.momentum = momentum
        dtype = _float_dtype(dtype)
        c = self.num_features
        self.weight = Parameter(np.ones(c, dtype))
        self.bias = Parameter(np.zeros(c, dtype))
        self.running_mean = np.zeros(c, dtype)
        self.running_var = np.ones(c, dtype)
        self.num_batches_tracked = np.zeros((), np.int64)
        self._xhat = self._invstd = None

    def _check(self, x):
        if x.ndim != 4:
            raise ValueError(f"BatchNorm2d expects ({', '.join(self.layout)}) input, got {x.ndim} dimensions: "
                             f"{x.shape}")
        if x.shape[self._channel_axis] != self.num_features:
            raise ValueError(f"BatchNorm2d({self.num_features}) got an input with {x.shape[self._channel_axis]} "
                             f"channels: {x.shape}" + (" (channels last? use layout='NHWC')" if self.layout == "NCHW"
                                                       and x.shape[3] == self.num_features else ""))

    def _per_channel(self, v):
        """A (C,) vector shaped to broadcast along the channel axis."""
        return v if self.layout == "NHWC" else v[:, None, None]

    def forward(self, x):
        x = _float_array(x, "x")
        self._check(x)
        dt = np.result_type(x.dtype, self.weight.dtype)
        x = x.astype(dt, copy=False)
        c = self._per_channel
        axes = self._reduce_axes
        w = c(self.weight.data.astype(dt, copy=False))
        b = c(self.bias.data.astype(dt, copy=False))
        if not self.training:
            scale = c(1 / np.sqrt(self.running_var.astype(dt) + dt.type(self.eps)))
            return (x - c(self.running_mean.astype(dt))) * (scale * w) + b
        count = x.size // self.num_features
        if count < 2:
            raise ValueError(
                f"BatchNorm2d in training mode needs more than 1 value per channel, got input shape {x.shape}"
            )
        mean = x.mean(axis=axes)
        centred = x - c(mean)
        var = np.mean(np.square(centred), axis=axes)
        invstd = 1 / np.sqrt(var + dt.type(self.eps))
        xhat = centred
        xhat *= c(invstd)
        self.num_batches_tracked += 1
        m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
        rd = self.running_mean.dtype
        self.running_mean *= rd.type(1 - m)
        self.running_mean += (m * mean).astype(rd)
        self.running_var *= rd.type(1 - m)
        self.running_var += (m * var * (count / (count - 1))).astype(rd)
        self._keep(_xhat=xhat, _invstd=invstd)
        return xhat * w + b

    def backward(self, grad, *, input_grad=True):
        xhat = self._saved("_xhat")
        grad = np.asarray(grad)
        if grad.shape != xhat.shape:
            raise ValueError(f"grad must have the output shape {xhat.shape}, got {grad.shape}")
        grad = grad.astype(xhat.dtype, copy=False)
        c = self._per_channel
        sum_g = grad.sum(axis=self._reduce_axes)
        sum_gx = np.einsum("nhwc,nhwc->c" if self.layout == "NHWC" else "nchw,nchw->c", grad, xhat)
        self.weight.grad += sum_gx.astype(self.weight.dtype, copy=False)
        self.bias.grad += sum_g.astype(self.bias.dtype, copy=False)
        if not input_grad:
            return None
        count = xhat.size // self.num_features
        w = self.weight.data.astype(xhat.dtype, copy=False)
        # d x = w * invstd * (g - mean(g) - x_hat * mean(g * x_hat)), per channel
        k = c(w * self._invstd)
        return (grad - c(sum_g / count) - xhat * c(sum_gx / count)) * k

    def __repr__(self):
        s = f"BatchNorm2d({self.num_features}"
        if self.eps != 1e-5:
            s += f", eps={self.eps!r}"
        if self.momentum != 0.1:
            s += f", momentum={self.momentum!r}"
        return s + _layout_repr(self) + ")"


class Dropout(Module):
    """Inverted dropout: in training, zero each element with probability ``p`` and scale the rest by ``1/(1-p)``.

    The identity in evaluation mode (PyTorch's ``Dropout``).

    Parameters
    ----------
    p : float
        Probability of dropping an element, in ``[0, 1]`` (default 0.5).
    rng : numpy.random.Generator, int or None
        Source of the masks (None: fresh entropy).

    Examples
    --------
    >>> drop = Dropout(0.5, rng=0)
    >>> drop(np.ones(6))
    array([2., 0., 0., 0., 2., 2.])
    >>> drop.eval()(np.ones(3))
    array([1., 1., 1.])
    """

    _cache = ("_mask",)

    def __init__(self, p=0.5, *, rng=None):
        p = _nonnegative(p, "p")
        if p > 1:
            raise ValueError(f"p must lie in [0, 1], got {p!r}")
        self.p = p
        self.rng = _generator(rng)
        self._mask = None

    def forward(self, x):
        x = _float_array(x, "x")
        if not self.training:
            return x
        if self.p == 1:
            mask = np.zeros(x.shape, x.dtype)
        else:
            keep = self.rng.random(x.shape, dtype=np.float64 if x.dtype == np.float64 else np.float32)
            mask = (keep >= self.p).astype(x.dtype) * x.dtype.type(1 / (1 - self.p))
        self._keep(_mask=mask)
        return x * mask

    def backward(self, grad, *, input_grad=True):
        mask = self._saved("_mask")
        grad = np.asarray(grad)
        if grad.shape != mask.shape:
            raise ValueError(f"grad must have the output shape {mask.shape}, got {grad.shape}")
        return grad * mask if input_grad else None

    def __repr__(self):
        return f"Dropout(p={self.p})"


def _output_size(output_size):
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != 2:
            raise ValueError(f"output_size must be an int or a pair, got {output_size!r}")
        return tuple(None if v is None else _positive(v, "output_size") for v in output_size)
    size = _positive(output_size, "output_size")
    return (size, size)


def _adaptive_functions():
    """cyconv's adaptive average pooling (forward, backward), or None where it is not built in."""
    import cyconv

    forward = getattr(cyconv, "adaptive_avg_pool2d", None)
    backward = getattr(cyconv, "adaptive_avg_pool2d_backward", None)
    return (forward, backward) if forward is not None and backward is not None else None


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size (PyTorch's ``AdaptiveAvgPool2d``).

    ``AdaptiveAvgPool2d(1)`` is global average pooling: ``(N, C, H, W) -> (N, C, 1, 1)``.

    Parameters
    ----------
    output_size : int or (int or None, int or None)
        ``(Ho, Wo)``; None keeps that axis. Runs on :func:`cyconv.adaptive_avg_pool2d`.
    layout : {'NCHW', 'NHWC'}
        ``'NHWC'`` pools the H and W axes of ``(N, H, W, C)`` / ``(H, W, C)`` in place
        (the function's ``axes=(-3, -2)``): ``(N, H, W, C) -> (N, Ho, Wo, C)``.

    Examples
    --------
    >>> AdaptiveAvgPool2d(1)(np.arange(8.0).reshape(1, 2, 2, 2))
    array([[[[1.5]],
    <BLANKLINE>
            [[5.5]]]])
    """

    _receptive_field_kind = "global"
    _cache = ("_input_shape",)

    def __init__(self, output_size, *, layout="NCHW"):
        self.output_size = _output_size(output_size)
        self.layout = layout_of(layout)
        self._input_shape = None

    def forward(self, x):
        x = _float_array(x, "x")
        nhwc = self.layout == "NHWC"
        if x.ndim < 2 + nhwc:
            raise ValueError(f"AdaptiveAvgPool2d expects ({'..., H, W, C' if nhwc else '..., H, W'}) input, "
                             f"got shape {x.shape}")
        self._keep(_input_shape=x.shape)
        axes = _SPATIAL_AXES[self.layout]
        functions = _adaptive_functions()
        if functions is not None:
            return functions[0](x, self.output_size, **({"axes": axes} if nhwc else {}))
        if self.output_size != (1, 1):
            raise NotImplementedError(
                "this cyconv has no adaptive_avg_pool2d; AdaptiveAvgPool2d supports only output_size=1 here"
            )
        if x.shape[axes[0]] * x.shape[axes[1]] == 0:
            raise ValueError(f"AdaptiveAvgPool2d got an empty spatial axis: input shape {x.shape}")
        return x.mean(axis=axes, keepdims=True)

    def backward(self, grad, *, input_grad=True):
        shape = self._saved("_input_shape")
        if not input_grad:
            return None
        nhwc = self.layout == "NHWC"
        axes = _SPATIAL_AXES[self.layout]
        functions = _adaptive_functions()
        if functions is not None:
            return functions[1](grad, shape, **({"axes": axes} if nhwc else {}))
        grad = np.asarray(grad)
        expected = self.output_shape(shape)
        if grad.shape != expected:
            raise ValueError(f"grad must have the output shape {expected}, got {grad.shape}")
        return np.broadcast_to(grad / (shape[axes[0]] * shape[axes[1]]), shape).copy()

    def output_shape(self, input_shape):
        shape = _as_nchw_shape(input_shape, self.layout)
        shape = shape[:-2] + tuple(n if o is None else o for o, n in zip(self.output_size, shape[-2:]))
        return _from_nchw_shape(shape, self.layout)

    def __repr__(self):
        o = self.output_size
        return (f"AdaptiveAvgPool2d(output_size={o[0] if o[0] == o[1] and o[0] is not None else o}"
                f"{_layout_repr(self)})")


class ConvTranspose2d(Module):
    """Transposed convolution layer (PyTorch's ``ConvTranspose2d``), on :func:`cyconv.conv_transpose2d`.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or (int, int)
    stride, padding, output_padding, groups, dilation
        As for :func:`cyconv.conv_transpose2d`.
    bias : bool
    dtype : floating dtype
        Of the parameters (default float32).
    rng : numpy.random.Generator, int or None
        PyTorch's default initialisation: ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``
        with ``fan_in = out_channels/groups*kh*kw`` (``weight.shape[1]*kh*kw``).
    layout : {'NCHW', 'NHWC'}
        Of the input, the output and their gradients (:func:`cyconv.conv_transpose2d`
        ``layout=``); the weight keeps its layout.

    Attributes
    ----------
    weight : Parameter
        ``(in_channels, out_channels/groups, kh, kw)`` whatever the layout.
    bias : Parameter or None
        ``(out_channels,)``.

    Examples
    --------
    >>> up = ConvTranspose2d(3, 2, 2, stride=2, rng=0)
    >>> up(np.zeros((1, 3, 4, 4), np.float32)).shape
    (1, 2, 8, 8)
    """

    # Not a window over the input: receptive_field does not apply.
    _receptive_field_kind = "global"
    _param_names = ("weight", "bias")
    _cache = ("_x",)

    def __init__(self, in_channels, out_channels, kernel_size, *, stride=1, padding=0, output_padding=0,
                 groups=1, bias=True, dilation=1, dtype=np.float32, rng=None, layout="NCHW"):
        self.layout = layout_of(layout)
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
        self.output_padding = _pair(output_padding, "output_padding", minimum=0)
        for op, s, d in zip(self.output_padding, self.stride, self.dilation):
            if op >= max(s, d):
                raise ValueError(
                    f"output_padding must be smaller than stride or dilation, got output_padding="
                    f"{self.output_padding}, stride={self.stride}, dilation={self.dilation}"
                )
        self._pads = _padding(padding, self.kernel_size, self.dilation)
        self.padding = padding
        dtype = _float_dtype(dtype)
        rng = _generator(rng)
        c_per_group = self.out_channels // self.groups
        bound = 1.0 / math.sqrt(c_per_group * self.kernel_size[0] * self.kernel_size[1])
        shape = (self.in_channels, c_per_group) + self.kernel_size
        self.weight = Parameter(_uniform(rng, bound, shape, dtype))
        self.bias = Parameter(_uniform(rng, bound, (self.out_channels,), dtype)) if bias else None
        self._x = None

    def forward(self, x):
        x = _real_array(x, "x")
        self._keep(_x=x)
        b = None if self.bias is None else self.bias.data
        return conv_transpose2d(x, self.weight.data, b, stride=self.stride, padding=self._pads,
                                output_padding=self.output_padding, dilation=self.dilation,
                                groups=self.groups, layout=self.layout)

    def backward(self, grad, *, input_grad=True):
        """The input gradient is a conv2d of ``grad``; the weight gradient conv2d_backward's, roles swapped."""
        x = self._saved("_x")
        grad = np.asarray(grad)
        expected = self.output_shape(x.shape)
        if grad.shape != expected:
            raise ValueError(f"grad must have the output shape {expected}, got {grad.shape}")
        options = dict(stride=self.stride, padding=self._pads, dilation=self.dilation, groups=self.groups)
        layout = self.layout
        nhwc = layout == "NHWC"
        hw = _as_nchw_shape(x.shape, layout)[-2:]
        # conv2d of grad covers x's rows (and, when output_padding >= stride, a few more that
        # no input reached): the forward is the adjoint of exactly this convolution.
        conv_hw = conv2d_output_shape(_as_nchw_shape(grad.shape, layout), self.weight.shape, **options)[-2:]
        x_full = x
        if conv_hw != hw:
            pad = [(0, c - n) for c, n in zip(conv_hw, hw)]
            pad = [(0, 0)] * (x.ndim - 3) + pad + [(0, 0)] if nhwc else [(0, 0)] * (x.ndim - 2) + pad
            x_full = np.pad(x, pad)
        g = conv2d_backward(x_full, grad, self.weight.data, compute=("weight",), layout=layout, **options)
        self.weight.grad += g.weight
        if self.bias is not None:
            self.bias.grad += grad.sum(axis=tuple(range(grad.ndim - 1)) if nhwc else
                                       (0, 2, 3) if grad.ndim == 4 else (1, 2)).astype(self.bias.dtype, copy=False)
        if not input_grad:
            return None
        gx = conv2d(grad, self.weight.data, layout=layout, **options)
        if conv_hw == hw:
            return gx
        return gx[..., :hw[0], :hw[1], :] if nhwc else gx[..., :hw[0], :hw[1]]

    def output_shape(self, input_shape):
        shape = _as_nchw_shape(input_shape, self.layout)
        out = tuple((n - 1) * s - p[0] - p[1] + d * (k - 1) + op + 1 for n, k, s, p, d, op in zip(
            shape[-2:], self.kernel_size, self.stride, self._pads, self.dilation, self.output_padding))
        return _from_nchw_shape(shape[:-3] + (self.out_channels,) + out, self.layout)

    def __repr__(self):
        s = f"ConvTranspose2d({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"
        for name, default in (("stride", (1, 1)), ("padding", 0), ("output_padding", (0, 0)),
                              ("dilation", (1, 1)), ("groups", 1)):
            value = getattr(self, name)
            if value != default:
                s += f", {name}={value!r}"
        if self.bias is None:
            s += ", bias=False"
        return s + _layout_repr(self) + ")"


class Residual(Module):
    """``body(x) + shortcut(x)``: a residual block (the shortcut is the identity by default).

    Parameters
    ----------
    body : layer
        Usually a :class:`Sequential` (conv, batch norm, ReLU, conv, batch norm).
    shortcut : layer, optional
        E.g. a strided 1x1 :class:`Conv2d` where the body changes the shape; None
        adds ``x`` itself. Its output must have the body's shape.

    The state_dict names are ``body.<...>`` and ``shortcut.<...>``. Follow it with a
    :class:`ReLU` for the usual ResNet block.

    Examples
    --------
    >>> block = Residual(Sequential(Conv2d(2, 2, 3, padding=1, rng=0), BatchNorm2d(2)))
    >>> block(np.ones((4, 2, 5, 5), np.float32)).shape
    (4, 2, 5, 5)
    >>> sorted(block.state_dict())[:2]
    ['body.0.bias', 'body.0.weight']
    """

    _receptive_field_kind = "global"

    def __init__(self, body, shortcut=None):
        for name, layer in (("body", body), ("shortcut", shortcut)):
            if layer is None and name == "shortcut":
                continue
            if not (callable(getattr(layer, "forward", None)) and callable(getattr(layer, "backward", None))):
                raise TypeError(f"{name} must be a layer with forward and backward, got {type(layer).__name__}")
        self.body = body
        self.shortcut = shortcut

    def _children(self):
        return [("body", self.body)] + ([] if self.shortcut is None else [("shortcut", self.shortcut)])

    def forward(self, x):
        x = _real_array(x, "x")
        y = self.body.forward(x)
        s = x if self.shortcut is None else self.shortcut.forward(x)
        if y.shape != s.shape:
            raise ValueError(f"Residual: the body gives shape {y.shape} but the shortcut {s.shape}")
        return y + s

    def backward(self, grad, *, input_grad=True):
        if not self.training:
            raise RuntimeError(
                "Residual.backward called in evaluation mode: eval() keeps nothing for a "
                "backward pass; call train() before the forward pass to backpropagate"
            )
        gb = self.body.backward(grad, input_grad=input_grad)
        if self.shortcut is None:
            return (gb + grad) if input_grad else None
        gs = self.shortcut.backward(grad, input_grad=input_grad)
        return (gb + gs) if input_grad else None

    def output_shape(self, input_shape):
        return self.body.output_shape(input_shape)

    def __repr__(self):
        return f"Residual(body={self.body!r}, shortcut={self.shortcut!r})"



def _summary_name(layer):
    """A one-line name for the summary table (containers by their size)."""
    if isinstance(layer, Sequential):
        return f"Sequential({len(layer)} layers)"
    if isinstance(layer, Residual):
        shortcut = "identity" if layer.shortcut is None else _summary_name(layer.shortcut)
        return f"Residual({_summary_name(layer.body)} + {shortcut})"
    return repr(layer)


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
    if isinstance(layer, Residual):  # the body's field (a shortcut of 1x1 convolutions sees less)
        return _advance(rf, layer.body, i)
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


def _parameter_list(parameters):
    parameters = list(parameters)
    for i, p in enumerate(parameters):
        if not isinstance(p, Parameter):
            raise TypeError(f"parameters[{i}] must be a cyconv.nn.Parameter, got {type(p).__name__}")
    return parameters


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
        self.parameters = _parameter_list(parameters)
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


class Adam:
    """Adam (PyTorch's ``torch.optim.Adam`` update, weight decay added to the gradient).

    Each step ``t = 1, 2, ...``, for every parameter ``p``::

        g = p.grad + weight_decay * p.data
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        p.data -= lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    Parameters
    ----------
    parameters : iterable of Parameter
    lr : float
        Learning rate (default 1e-3).
    betas : (float, float)
        Decay rates of the moment estimates, each in ``[0, 1)``.
    eps : float
        Added to the denominator (default 1e-8).
    weight_decay : float
        L2 penalty added to the gradient (not AdamW's decoupled decay).

    Examples
    --------
    >>> p = Parameter(np.array([1.0, -1.0]))
    >>> p.grad[:] = [0.5, -2.0]
    >>> opt = Adam([p], lr=0.1)
    >>> opt.step()
    >>> p.data
    array([ 0.9, -0.9])
    """

    def __init__(self, parameters, lr=1e-3, *, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        self.parameters = _parameter_list(parameters)
        self.lr = _nonnegative(lr, "lr")
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"betas must be a pair of floats, got {betas!r}")
        b1, b2 = (_nonnegative(b, "betas") for b in betas)
        if not (b1 < 1 and b2 < 1):
            raise ValueError(f"betas must lie in [0, 1), got {tuple(betas)!r}")
        self.betas = (b1, b2)
        self.eps = _nonnegative(eps, "eps")
        self.weight_decay = _nonnegative(weight_decay, "weight_decay")
        self.t = 0
        self._m = [np.zeros_like(p.data) for p in self.parameters]
        self._v = [np.zeros_like(p.data) for p in self.parameters]

    def step(self):
        """Update every parameter from its ``.grad``."""
        self.t += 1
        b1, b2 = self.betas
        step_size = self.lr / (1 - b1 ** self.t)
        root_bc2 = math.sqrt(1 - b2 ** self.t)
        for p, m, v in zip(self.parameters, self._m, self._v):
            g = p.grad
            if self.weight_decay:
                g = g + p.dtype.type(self.weight_decay) * p.data
            m *= p.dtype.type(b1)
            m += p.dtype.type(1 - b1) * g
            v *= p.dtype.type(b2)
            v += p.dtype.type(1 - b2) * np.square(g)
            denom = np.sqrt(v)
            denom /= p.dtype.type(root_bc2)
            denom += p.dtype.type(self.eps)
            p.data -= p.dtype.type(step_size) * (m / denom)

    def zero_grad(self):
        """Set every parameter's gradient to zero."""
        for p in self.parameters:
            p.zero_grad()
