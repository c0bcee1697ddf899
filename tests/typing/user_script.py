"""A user's script: every documented call form of cyconv's public API.

It is type-checked, not run (tests/test_typing.py): ``mypy --strict`` and
``pyright --strict`` must report no error. ``assert_type`` pins the result types the
stubs promise (dtype kept for float16/float32/float64 ndarrays).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import numpy.typing as npt
from typing_extensions import assert_type

import cyconv
from cyconv import nn

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
Floating = npt.NDArray[np.floating[Any]]

x64: F64 = np.zeros((2, 3, 8, 8))
w64: F64 = np.zeros((4, 3, 3, 3))
b64: F64 = np.zeros(4)
x32: F32 = np.zeros((2, 3, 8, 8), np.float32)
w32: F32 = np.zeros((4, 3, 3, 3), np.float32)
plane: F64 = np.zeros((8, 8))
k: F64 = np.ones((3, 3))
img_u8 = np.zeros((8, 8), np.uint8)

# --- correlate2d / convolve2d: every padding form, stride/dilation forms, modes, axes, out
assert_type(cyconv.correlate2d(plane, k), F64)
plane32: F32 = np.zeros((8, 8), np.float32)
assert_type(cyconv.correlate2d(plane32, np.ones((2, 2), np.float32)), F32)
assert_type(cyconv.correlate2d([[0.0, 1.0], [2.0, 3.0]], [[1.0]]), Floating)
cyconv.correlate2d(plane, k, padding=1)
cyconv.correlate2d(plane, k, padding=(1, 0))
cyconv.correlate2d(plane, k, padding=((1, 1), (0, 2)))
cyconv.correlate2d(plane, k, padding=((1, 1), 0))
cyconv.correlate2d(plane, k, padding="valid")
cyconv.correlate2d(plane, k, padding="same")
cyconv.correlate2d(plane, k, padding="same_lower")
cyconv.correlate2d(plane, k, padding="same_upper")
cyconv.correlate2d(plane, k, padding="full")
cyconv.correlate2d(plane, k, stride=2, dilation=(1, 2))
cyconv.correlate2d(plane, k, stride=(1, 2), dilation=2)
cyconv.correlate2d(plane, k, stride=np.int64(2))
cyconv.correlate2d(plane, k, padding=1, padding_mode="reflect")
cyconv.correlate2d(plane, k, padding=1, padding_mode="replicate")
cyconv.correlate2d(plane, k, padding=1, padding_mode="circular")
cyconv.correlate2d(plane, k, padding=1, padding_mode="symmetric")
cyconv.correlate2d(plane, k, padding=1, padding_mode="zeros")
cyconv.correlate2d(np.zeros((8, 8, 3)), k, axes=(0, 1))
out_plane: F64 = np.empty((6, 6))
assert_type(cyconv.correlate2d(plane, k, out=out_plane), F64)
assert_type(cyconv.convolve2d(plane, k, padding="full"), F64)
cyconv.convolve2d([[1.0, 2.0, 3.0]], [[1.0, 1.0]], padding="same_upper", axes=(-2, -1))

# --- conv2d: bias positional or keyword, groups, layout, out
y64 = cyconv.conv2d(x64, w64)
assert_type(y64, F64)
assert_type(cyconv.conv2d(x32, w32), F32)
assert_type(cyconv.conv2d(x64, w64, b64), F64)
assert_type(cyconv.conv2d(x64, w64, bias=b64, stride=2, padding="same", dilation=1), F64)
assert_type(cyconv.conv2d(x64.astype(np.float16), w64.astype(np.float16)), npt.NDArray[np.float16])
assert_type(cyconv.conv2d(x32, w64), Floating)  # mixed dtypes promote (not tracked)
assert_type(cyconv.conv2d(x64.astype(np.int32), w64), Floating)
cyconv.conv2d(x64, np.zeros((3, 1, 3, 3)), groups=3)
cyconv.conv2d(x64, w64, padding=((1, 1), (0, 0)), padding_mode="circular")
cyconv.conv2d(x64, w64, padding=(1, 0), stride=(1, 2))
cyconv.conv2d(np.zeros((2, 8, 8, 3)), w64, layout="NHWC")
cyconv.conv2d(x64, w64, layout="NCHW", out=np.empty((2, 4, 6, 6)))
cyconv.conv2d(x64[0], w64)  # one (C, H, W) image
cyconv.conv2d(x64.tolist(), w64.tolist())

# --- conv_transpose2d
assert_type(cyconv.conv_transpose2d(y64, w64), F64)
cyconv.conv_transpose2d(y64, w64, np.zeros(3), stride=2, padding=1, output_padding=1,
                        dilation=1, groups=1, layout="NCHW")
cyconv.conv_transpose2d(y64, w64, bias=None, output_padding=(0, 1), stride=(2, 2))

# --- conv2d_backward: compute forms, Conv2dGradients fields
g = cyconv.conv2d_backward(np.ones((2, 4, 6, 6)), x64, w64)
assert_type(g, cyconv.Conv2dGradients[Floating, Floating, Floating])
grad_x, grad_w, grad_b = g
print(g.input.shape, g.weight.sum(), g.bias[0], grad_w, grad_b)  # all three computed
some = cyconv.conv2d_backward(np.ones((2, 4, 6, 6)), x64, w64, compute=("weight",))
assert_type(some, cyconv.Conv2dGradients)
annotated: cyconv.Conv2dGradients = g
if some.weight is not None:
    assert_type(some.weight, Floating)
    print(some.weight.shape, annotated)
cyconv.conv2d_backward(np.ones((2, 4, 6, 6)), x64, w64, compute="input")
cyconv.conv2d_backward(np.ones((2, 4, 6, 6)), x64, w64, compute=["input", "bias"])
cyconv.conv2d_backward(np.ones((2, 4, 8, 8)), x64, w64, stride=1, padding="same", dilation=1,
                       groups=1, padding_mode="reflect", layout="NCHW")

# --- pooling: dtype kept, return_indices, options, axes, out
assert_type(cyconv.max_pool2d(img_u8, 2), npt.NDArray[np.uint8])
assert_type(cyconv.max_pool2d(x32, 2), F32)
vals, idx = cyconv.max_pool2d(x64, 2, return_indices=True)
assert_type(vals, F64)
assert_type(idx, npt.NDArray[np.int64])
cyconv.max_pool2d(x64, (2, 3), stride=(1, 2), padding=1, dilation=2, ceil_mode=True)
cyconv.max_pool2d(x64, 3, stride=None, padding=(1, 1), axes=(-2, -1))
flag: bool = bool(len(vals))
either = cyconv.max_pool2d(x64, 2, return_indices=flag)
if isinstance(either, tuple):
    print(either[1].dtype)
assert_type(cyconv.avg_pool2d(x32, 2), F32)
assert_type(cyconv.avg_pool2d([[1, 2], [3, 4]], 2), Floating)
cyconv.avg_pool2d(x64, 3, stride=1, padding=1, ceil_mode=False, count_include_pad=False,
                  divisor_override=None)
cyconv.avg_pool2d(x64, 2, divisor_override=-4, padding="valid", out=np.empty((2, 3, 4, 4)))
assert_type(cyconv.max_pool2d_backward(np.ones_like(vals), idx, x64.shape), F64)
assert_type(cyconv.avg_pool2d_backward(np.ones((2, 3, 4, 4)), x64.shape, 2), F64)
cyconv.avg_pool2d_backward(np.ones((2, 3, 8, 8)), (2, 3, 8, 8), 3, stride=1, padding=1,
                           ceil_mode=False, count_include_pad=True, divisor_override=9)

# --- adaptive pools, unfold/fold
assert_type(cyconv.adaptive_avg_pool2d(x32, 1), F32)
cyconv.adaptive_avg_pool2d(x64, (4, None), axes=(-2, -1))
assert_type(cyconv.adaptive_max_pool2d(x64, (2, 2)), F64)
am, ai = cyconv.adaptive_max_pool2d(x64, 2, return_indices=True)
assert_type(ai, npt.NDArray[np.int64])
assert_type(cyconv.adaptive_avg_pool2d_backward(np.ones((2, 3, 1, 1)), x64.shape), F64)
cols = cyconv.unfold(x64, 3, stride=1, padding=1, dilation=1, layout="NCHW")
assert_type(cols, F64)
assert_type(cyconv.fold(cols, (8, 8), 3, padding=1), F64)
cyconv.unfold(np.zeros((2, 8, 8, 3)), (3, 3), layout="NHWC")

# --- shape arithmetic
n_out: int = cyconv.output_size(8, 3, padding=1)
cyconv.output_size(5, 2, stride=2, padding=(0, 1), dilation=1, ceil_mode=True)
shape: tuple[int, ...] = cyconv.conv2d_output_shape((1, 1, 8, 8), (1, 1, 3, 5), padding=(0, 1),
                                                    stride=(3, 4))
cyconv.conv2d_output_shape([1, 3, 8, 8], (6, 3, 5, 5), padding="same", dilation=2, groups=1)
cyconv.pool2d_output_shape((1, 1, 4, 4), 3, padding=1, stride=2, dilation=1, ceil_mode=True)
rf = cyconv.receptive_field([(3,), (3,)])
assert_type(rf, cyconv.ReceptiveField)
size_h, size_w = rf.size
centre: tuple[float, float] = rf.center
fields = cyconv.receptive_field([{"kernel_size": 3, "padding": 1}, (2, 2)], per_layer=True)
assert_type(fields, list[cyconv.ReceptiveField])

# --- runtime
threads: int = cyconv.get_num_threads()
cyconv.set_num_threads(1)
cyconv.set_num_threads(threads)
buf = io.StringIO()
cyconv.show_config()
cyconv.show_config(file=buf)
old_limit: int = cyconv.set_workspace_limit(1 << 20)
cyconv.set_workspace_limit(None)
limit: int = cyconv.get_workspace_limit()
version: str = cyconv.__version__

# --- lazy submodules as attributes
seq = cyconv.nn.Sequential(cyconv.nn.ReLU())
corr = cyconv.d2l.corr2d(plane, k)

# --- cyconv.nn
rng = np.random.default_rng(0)
model = nn.Sequential(
    nn.Conv2d(1, 4, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(4, 4, (3, 3), stride=1, padding="same", dilation=1, groups=2, bias=False,
              padding_mode="reflect", dtype=np.float32, rng=1),
    nn.BatchNorm2d(4, eps=1e-5, momentum=0.1), nn.Sigmoid(), nn.Dropout(0.1, rng=rng),
    nn.AvgPool2d(2, stride=2, padding=0, ceil_mode=False, count_include_pad=True),
    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10, bias=True, rng=rng),
)
model.train()
batch = rng.standard_normal((5, 1, 8, 8)).astype(np.float32)
logits = model(batch)
assert_type(logits, Floating)
loss, grad = nn.cross_entropy(logits, np.array([0, 1, 2, 3, 4]))
assert_type(loss, float)
model.zero_grad()
dx = model.backward(grad)
assert_type(dx, Floating)
nothing = model.backward(grad, input_grad=False)
assert_type(nothing, None)
params: list[nn.Parameter] = model.parameters()
opt = nn.SGD(params, lr=0.1, momentum=0.9, weight_decay=1e-4)
opt.step()
opt.zero_grad()
adam = nn.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
adam.step()
state = model.state_dict()
model.load_state_dict(state)
evaluated: nn.Sequential = model.eval()
table: str = model.summary((5, 1, 8, 8))
first: nn.Module = model[0]
for layer in model:
    print(layer.output_shape((5, 1, 8, 8)))
mse, mse_grad = nn.mse_loss(logits, np.zeros_like(logits), reduction="sum")
p0 = params[0]
print(p0.data.shape, p0.grad.dtype, p0.shape, p0.dtype, p0.size)
conv = nn.Conv2d(3, 8, 3)
w_param: nn.Parameter = conv.weight
bias_param: nn.Parameter | None = conv.bias
up = nn.ConvTranspose2d(8, 3, 2, stride=2, padding=0, output_padding=0, groups=1, bias=True,
                        dilation=1, dtype=np.float64, rng=rng)
up.forward(np.zeros((1, 8, 4, 4)))
nn.Linear(3, 2).forward([[1.0, 2.0, 3.0]])
block = nn.Residual(nn.Sequential(nn.Conv2d(2, 2, 3, padding=1), nn.BatchNorm2d(2)), shortcut=None)
named: list[tuple[str, nn.Parameter]] = block.named_parameters()
every: list[nn.Module] = list(block.modules())
nhwc_model = nn.Sequential(nn.Conv2d(3, 4, 3, layout="NHWC"), nn.MaxPool2d(2, layout="NHWC"),
                           nn.BatchNorm2d(4, layout="NHWC"), nn.AdaptiveAvgPool2d(1, layout="NHWC"),
                           nn.Flatten(layout="NHWC"))
print(named, every, nhwc_model)

# --- cyconv.d2l
from cyconv import d2l  # noqa: E402

d2l.corr2d(plane, k)
d2l.corr2d_multi_in(np.zeros((2, 3, 3)), np.zeros((2, 2, 2)))
d2l.corr2d_multi_in_out(np.zeros((2, 3, 3)), np.zeros((3, 2, 2, 2)))
d2l.corr2d_multi_in_out_1x1(np.zeros((2, 3, 3)), np.zeros((3, 2, 1, 1)))
d2l.pool2d(plane, (2, 2))
d2l.pool2d(plane, (2, 2), "avg")
d2l.comp_conv2d(nn.Conv2d(1, 1, kernel_size=3, padding=1, rng=0), np.zeros((8, 8), np.float32))
print(n_out, shape, size_h, size_w, centre, fields, threads, old_limit, limit, version, seq,
      corr, mse, mse_grad, evaluated, table, first, w_param, bias_param, grad_x, am, out_plane)
