"""Receptive-field arithmetic for stacks of convolution and pooling layers (notes 6.2.6).

Per axis, a stack of layers maps output element ``i`` to the input interval
``[start + i*jump, start + i*jump + size - 1]``. Walking the layers in order with
``k_eff = d*(k-1) + 1`` and the padding before the axis ``p``::

    size  <- size + (k_eff - 1) * jump
    start <- start - p * jump
    jump  <- jump * s

starting from ``size = jump = 1`` and ``start = 0`` (the input itself).
"""

from typing import NamedTuple

from ._shapes import _pair, _padding, _pool_args

__all__ = ["ReceptiveField", "receptive_field"]

_SPEC_KEYS = ("kernel_size", "stride", "padding", "dilation")


class ReceptiveField(NamedTuple):
    """Receptive field of the output elements of a layer stack, per axis ``(h, w)``.

    Attributes
    ----------
    size : (int, int)
        Extent (rows, columns) of the input region one output element depends on,
        counted in input elements, holes of dilated kernels and padding included.
    jump : (int, int)
        Distance in the input between the fields of neighbouring output elements
        (the product of the strides, the "effective stride").
    start : (int, int)
        Input index (row, column) of the first element of the first output
        element's field. Negative values lie in the padding before the input.
        Output element ``(i, j)`` sees input rows ``start[0] + i*jump[0]`` up to
        ``start[0] + i*jump[0] + size[0] - 1``, and columns likewise.
    """

    size: tuple
    jump: tuple
    start: tuple

    @property
    def center(self):
        """Centre ``start + (size - 1)/2`` of the first output element's field, per axis."""
        return tuple(s + (n - 1) / 2 for s, n in zip(self.start, self.size))


_IDENTITY = ReceptiveField((1, 1), (1, 1), (0, 0))


def _compose(rf, kernel_size, stride, padding, dilation):
    """The field after one more layer with normalised (h, w) geometry."""
    size, jump, start = [], [], []
    for n, j, s0, k, s, (before, _after), d in zip(
        rf.size, rf.jump, rf.start, kernel_size, stride, padding, dilation
    ):
        size.append(n + d * (k - 1) * j)
        start.append(s0 - before * j)
        jump.append(j * s)
    return ReceptiveField(tuple(size), tuple(jump), tuple(start))


def _spec_geometry(spec, where):
    """Normalised (kernel_size, stride, padding, dilation) of a dict or tuple spec."""
    if isinstance(spec, dict):
        unknown = set(spec) - set(_SPEC_KEYS)
        if unknown:
            raise ValueError(
                f"{where}: unknown key(s) {sorted(unknown)}; a layer spec may have "
                f"{', '.join(_SPEC_KEYS)}"
            )
        if "kernel_size" not in spec:
            raise ValueError(f"{where}: a layer spec needs 'kernel_size', got {spec!r}")
        values = [spec.get(key, default) for key, default in zip(_SPEC_KEYS, (None, 1, 0, 1))]
    else:
        if not 1 <= len(spec) <= 4:
            raise ValueError(
                f"{where}: a tuple spec is (kernel_size[, stride[, padding[, dilation]]]), "
                f"got {len(spec)} items: {spec!r}"
            )
        values = list(spec) + [1, 0, 1][len(spec) - 1:]
    kernel_size, stride, padding, dilation = values
    k = _pair(kernel_size, "kernel_size")
    s = _pair(stride, "stride")
    d = _pair(dilation, "dilation")
    return k, s, _padding(padding, k, d), d


def _layer_geometry(layer, where):
    """Geometry of one layer, or None for a layer that acts element-wise or reshapes.

    Raises ValueError for a layer that mixes the whole input (Linear).
    """
    kind = getattr(layer, "_receptive_field_kind", None)
    if kind == "pointwise":
        return None
    if kind == "global" or (kind is None and hasattr(layer, "in_features")):
        raise ValueError(
            f"{where}: {type(layer).__name__} connects every input element to every output "
            "element; receptive fields are defined for stacks of convolution and pooling layers "
            "(and element-wise layers between them)"
        )
    if isinstance(layer, (dict, tuple, list)):
        return _spec_geometry(layer, where)
    if hasattr(layer, "kernel_size"):
        # cyconv.nn.Conv2d/MaxPool2d/AvgPool2d, or any object with the same attributes
        # (PyTorch's layers too). AvgPool2d has no dilation.
        stride = getattr(layer, "stride", None)
        return _pool_args(
            layer.kernel_size,
            layer.kernel_size if stride is None else stride,
            getattr(layer, "padding", 0),
            getattr(layer, "dilation", 1),
        )
    if callable(layer):
        return None
    raise TypeError(
        f"{where}: expected a layer (cyconv.nn), a dict with kernel_size/stride/padding/dilation "
        f"or a tuple (kernel_size[, stride[, padding[, dilation]]]), got {type(layer).__name__}"
    )


def _flatten(layers):
    """Expand nested Sequential containers (anything with a ``layers`` list)."""
    for layer in layers:
        inner = getattr(layer, "layers", None)
        if isinstance(inner, (list, tuple)) and not isinstance(layer, (dict, tuple, list)):
            yield from _flatten(inner)
        else:
            yield layer


def _walk(layers, rf=_IDENTITY):
    """Yield the receptive field after each layer (nested containers expanded)."""
    if not isinstance(layers, (list, tuple)):
        inner = getattr(layers, "layers", None)
        if isinstance(inner, (list, tuple)):
            layers = inner
        else:
            try:
                layers = list(layers)
            except TypeError:
                raise TypeError(
                    f"layers must be a sequence of layers or a Sequential, got {type(layers).__name__}"
                ) from None
    for i, layer in enumerate(_flatten(layers)):
        geometry = _layer_geometry(layer, f"layers[{i}]")
        if geometry is not None:
            rf = _compose(rf, *geometry)
        yield rf


def receptive_field(layers, *, per_layer=False):
    """Receptive field size, jump and start of a stack of convolution/pooling layers.

    Parameters
    ----------
    layers : sequence or cyconv.nn.Sequential
        The layers in forward order. Each item is one of

        - a :mod:`cyconv.nn` layer: ``Conv2d``, ``MaxPool2d``, ``AvgPool2d`` use their
          geometry; ``ReLU``, ``Sigmoid``, ``Flatten`` pass the field through; a nested
          ``Sequential`` is expanded;
        - a dict with ``kernel_size`` and optionally ``stride`` (default 1, also for
          pooling: give it), ``padding`` (any form :func:`cyconv.conv2d` accepts,
          default 0) and ``dilation`` (default 1);
        - a tuple ``(kernel_size[, stride[, padding[, dilation]]])`` with the same
          defaults;
        - any other object with a ``kernel_size`` attribute (and optionally
          ``stride``, ``padding``, ``dilation``), e.g. a PyTorch ``Conv2d``; any other
          callable without one is taken to act element-wise.
    per_layer : bool, optional
        Return the field after every layer (a list, nested containers expanded)
        instead of only the last.

    Returns
    -------
    ReceptiveField or list of ReceptiveField
        ``(size, jump, start)``, each an ``(h, w)`` pair of ints; ``start`` is the
        input index of the first element of the first output's field (negative: in
        the padding), and ``.center`` gives the centre instead. An empty stack gives
        ``size = jump = (1, 1)``, ``start = (0, 0)``.

    Raises
    ------
    TypeError
        For an item that is not a layer or spec, or non-integer geometry.
    ValueError
        For a ``Linear`` layer (it sees the whole input) or invalid geometry.

    See Also
    --------
    conv2d_output_shape : The output shape of one layer.
    cyconv.nn.Sequential.summary : Shapes, parameters and fields per layer.

    Examples
    --------
    Two 3x3 convolutions see 5x5; a 2x2 pooling then doubles the jump:

    >>> receptive_field([(3,), (3,)])
    ReceptiveField(size=(5, 5), jump=(1, 1), start=(0, 0))
    >>> receptive_field([{"kernel_size": 3, "padding": 1}, (3, 1, 1), (2, 2)])
    ReceptiveField(size=(6, 6), jump=(2, 2), start=(-2, -2))
    >>> receptive_field([(3, 1, 1)]).center
    (0.0, 0.0)
    """
    fields = list(_walk(layers))
    if per_layer:
        return fields
    return fields[-1] if fields else _IDENTITY
