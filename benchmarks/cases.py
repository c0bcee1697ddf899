"""The benchmark cases: what is computed, on which shapes, by which contenders.

A case is plain data (picklable): the controller sends it to each library's worker process,
which builds its own arrays from the same seed (``arrays``) and its own callable
(``libraries.build``). Nothing here imports a library beyond NumPy.

Case ids are ``section/name/dtype``, e.g. ``conv2d/resnet/float32``,
``conv2d_backward/vgg128/float64``, ``nhwc/resnet/float32``, ``max_pool2d/2x2s2/float32``.
"""

import math
from dataclasses import dataclass, field

import numpy as np

DTYPES = ("float32", "float64")
SEED = 20240522


@dataclass(frozen=True)
class Conv:
    """One conv2d problem: input (N, C_in, H, W), weight (C_out, C_in/groups, kh, kw)."""

    name: str
    x: tuple
    w: tuple
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    groups: int = 1
    bias: bool = True
    note: str = ""

    @property
    def out_hw(self):
        def one(n, k):
            return (n + 2 * self.padding - self.dilation * (k - 1) - 1) // self.stride + 1

        return one(self.x[2], self.w[2]), one(self.x[3], self.w[3])

    @property
    def out_shape(self):
        return (self.x[0], self.w[0], *self.out_hw)

    @property
    def flops(self):
        """Forward multiply-adds x 2: 2 * N * C_out * H_out * W_out * (C_in/groups) * kh * kw."""
        ho, wo = self.out_hw
        return 2.0 * self.x[0] * self.w[0] * ho * wo * self.w[1] * self.w[2] * self.w[3]

    @property
    def taps(self):
        """Multiply-adds per output element: (C_in/groups) * kh * kw (the GEMM's K)."""
        return self.w[1] * self.w[2] * self.w[3]

    @property
    def gemm(self):
        """The equivalent matrix product per group: (groups, M=C_out/g, N=N*H_out*W_out, K=taps)."""
        ho, wo = self.out_hw
        return self.groups, self.w[0] // self.groups, self.x[0] * ho * wo, self.taps

    @property
    def gemm_bound(self):
        """Issue 8's GEMM-bound class: >= 32 output channels per group and >= 64 taps per output."""
        return self.w[0] // self.groups >= 32 and self.taps >= 64 and not self.is_1x1

    @property
    def is_1x1(self):
        return self.w[2] == self.w[3] == 1 and self.stride == 1 and self.w[0] // self.groups >= 32

    @property
    def text(self):
        opts = [f"{k[0]}{v}" for k, v in (("stride", self.stride), ("padding", self.padding),
                                            ("dilation", self.dilation)) if v != (0 if k == "padding" else 1)]
        if self.groups != 1:
            opts.append(f"g{self.groups}")
        return f"{self.x}x{self.w}" + (" " + " ".join(opts) if opts else "")

    def im2col_bytes(self, itemsize):
        ho, wo = self.out_hw
        return self.x[0] * self.x[1] * self.w[2] * self.w[3] * ho * wo * itemsize


@dataclass(frozen=True)
class Pool:
    kind: str  # "max" or "avg"
    x: tuple
    kernel: int
    stride: int
    padding: int = 0

    @property
    def name(self):
        return f"{self.kernel}x{self.kernel}s{self.stride}" + (f"p{self.padding}" if self.padding else "")

    @property
    def out_shape(self):
        def one(n):
            return (n + 2 * self.padding - self.kernel) // self.stride + 1

        return (*self.x[:2], one(self.x[2]), one(self.x[3]))

    @property
    def text(self):
        return f"{self.kind} {self.x}"


@dataclass(frozen=True)
class Plane:
    name: str
    hw: tuple
    khw: tuple

    @property
    def flops(self):
        return 2.0 * (self.hw[0] - self.khw[0] + 1) * (self.hw[1] - self.khw[1] + 1) * self.khw[0] * self.khw[1]

    @property
    def text(self):
        return f"{self.hw}*{self.khw}"


@dataclass(frozen=True)
class Train:
    """One training step of the README's / demo's LeNet-style network (cyconv.demo.lenet)."""

    name: str = "readme-lenet"
    batch: int = 32
    train_images: int = 1347  # the demo's training split of scikit-learn's digits
    epochs: int = 12  # cyconv.demo.EPOCHS

    @property
    def steps(self):
        return math.ceil(self.train_images / self.batch) * self.epochs

    @property
    def text(self):
        return f"LeNet-style step, batch {self.batch} of 1x8x8"


# name, input, weight, options -- the first seven are the earlier benchmark's, the rest real networks'
CONVS = [
    Conv("notes6x8", (1, 1, 6, 8), (1, 1, 1, 2), bias=False, note="the notes' edge-detection image"),
    Conv("lenet1", (64, 1, 28, 28), (6, 1, 5, 5), padding=2, note="LeNet conv1"),
    Conv("lenet2", (64, 6, 14, 14), (16, 6, 5, 5), note="LeNet conv2"),
    Conv("resnet", (8, 64, 56, 56), (64, 64, 3, 3), padding=1, note="ResNet basic block 3x3"),
    Conv("1x1", (8, 256, 14, 14), (256, 256, 1, 1), note="ResNet bottleneck 1x1"),
    Conv("large", (1, 3, 512, 512), (16, 3, 3, 3), padding=1, note="one large RGB image"),
    Conv("depthwise", (8, 64, 56, 56), (64, 1, 3, 3), padding=1, groups=64, note="MobileNet depthwise"),
    Conv("pointwise", (8, 64, 56, 56), (128, 64, 1, 1), note="MobileNet pointwise"),
    Conv("1x1-96", (8, 96, 28, 28), (192, 96, 1, 1), note="1x1 of issue 8"),
    Conv("vgg128", (4, 128, 56, 56), (128, 128, 3, 3), padding=1, note="VGG 3x3, 128 channels"),
    Conv("vgg256", (2, 256, 28, 28), (256, 256, 3, 3), padding=1, note="VGG 3x3, 256 channels"),
    Conv("stem7x7", (4, 3, 224, 224), (64, 3, 7, 7), stride=2, padding=3, note="ResNet 7x7 stride-2 stem"),
    Conv("5x5", (16, 48, 32, 32), (64, 48, 5, 5), note="5x5"),
    Conv("strided", (8, 64, 56, 56), (128, 64, 3, 3), stride=2, padding=1, note="3x3 stride 2"),
    Conv("dilated", (4, 32, 40, 40), (32, 32, 3, 3), padding=2, dilation=2, note="3x3 dilation 2"),
    Conv("small3x3", (16, 32, 28, 28), (32, 32, 3, 3), padding=1, note="small 3x3"),
    Conv("batch1", (1, 256, 14, 14), (256, 256, 3, 3), padding=1, note="batch-1 inference"),
    Conv("batch64", (64, 32, 28, 28), (64, 32, 3, 3), padding=1, note="batch-64 training"),
]
CONV = {c.name: c for c in CONVS}
SMALL = ("notes6x8", "lenet1", "lenet2", "batch1")  # issue 8's "small cases"
NHWC_CONVS = ("resnet", "1x1")
# Dask: a ResNet-block batch chunked along N, against one in-memory call of the same size
DASK_CONV = Conv("resnet-b16", (16, 64, 56, 56), (64, 64, 3, 3), padding=1, note="ResNet block, batch 16")
DASK_CHUNK = 4
LOAD_CONV = "resnet"  # the case timed beside the CPU burners
POOL_X = (8, 64, 112, 112)
POOLS = [Pool("max", POOL_X, 2, 2), Pool("avg", POOL_X, 3, 1, 1)]
PLANES = [Plane("notes6x8", (6, 8), (1, 2)), Plane("512k3", (512, 512), (3, 3)), Plane("512k5", (512, 512), (5, 5))]

PEERS = ("torch", "onnxruntime", "jax")


@dataclass(frozen=True)
class Case:
    section: str  # conv2d, conv2d_backward, nhwc, nhwc_backward, dask, dask_backward, build,
    #               max_pool2d, avg_pool2d, max_pool2d_backward, avg_pool2d_backward, correlate2d
    dtype: str
    spec: object  # Conv, Pool or Plane
    contenders: tuple  # labels, see libraries.WORKER_OF
    roof: str = None  # "matmul" or "copy": the NumPy probe timed in the same rounds

    @property
    def name(self):
        return self.spec.name

    @property
    def id(self):
        return f"{self.section}/{self.name}/{self.dtype}"

    @property
    def backward(self):
        return self.section.endswith("_backward")

    @property
    def kind(self):
        """conv, pool or plane."""
        return {Conv: "conv", Pool: "pool", Plane: "plane", Train: "train"}[type(self.spec)]

    @property
    def work(self):
        """FLOPs per call (convolutions; backward = input + weight grads = 2x forward) or bytes moved."""
        s = self.spec
        if isinstance(s, Train):
            return 0.0  # no rate: the figure is the time per step
        if isinstance(s, Conv):
            return s.flops * (2 if self.backward else 1)
        if isinstance(s, Plane):
            return s.flops
        isz = np.dtype(self.dtype).itemsize
        n_in, n_out = math.prod(s.x), math.prod(s.out_shape)
        if not self.backward:
            return (n_in + n_out) * isz
        if s.kind == "max":  # grad_output + int64 indices read, grad_input written
            return n_out * (isz + 8) + n_in * isz
        return (n_out + n_in) * isz

    @property
    def unit(self):
        return "GB/s" if isinstance(self.spec, Pool) else "GFLOP/s"


def all_cases():
    """Every case, in table order."""
    out = []
    for section in ("conv2d", "conv2d_backward"):
        for c in CONVS:
            for dt in DTYPES:
                roof = "matmul" if (c.gemm_bound or c.is_1x1) else None
                out.append(Case(section, dt, c, ("cyconv",) + PEERS + ((roof,) if roof else ()), roof))
    for section in ("nhwc", "nhwc_backward"):
        for name in NHWC_CONVS:
            for dt in DTYPES:
                out.append(Case(section, dt, CONV[name],
                                ("cyconv NHWC", "cyconv NCHW", "torch channels_last", "torch NCHW")))
    for section in ("dask", "dask_backward"):
        out.append(Case(section, "float32", DASK_CONV, ("cyconv.dask", "cyconv")))
    out.append(Case("build", "float32", CONV["resnet"], ("cyconv", "cyconv avx2", "cyconv portable")))
    out.append(Case("train", "float32", Train(), ("cyconv", "cyconv 1 thread")))
    for backward in (False, True):
        for p in POOLS:
            for dt in DTYPES:
                section = f"{p.kind}_pool2d" + ("_backward" if backward else "")
                out.append(Case(section, dt, p, ("cyconv", "torch", "copy"), "copy"))
    for p in PLANES:
        for dt in DTYPES:
            out.append(Case("correlate2d", dt, p, ("cyconv", "torch", "scipy", "numpy")))
    return out


def by_id():
    return {c.id: c for c in all_cases()}


def _notes_image(dtype):
    """The notes' 6x8 black-and-white image (ones, columns 2..5 zero) and edge kernel [[1, -1]]."""
    x = np.ones((6, 8), dtype=dtype)
    x[:, 2:6] = 0
    return x, np.array([[1.0, -1.0]], dtype=dtype)


@dataclass
class Arrays:
    x: np.ndarray
    w: np.ndarray = None  # conv weight or plane kernel
    b: np.ndarray = None
    go: np.ndarray = None  # grad_output for backward cases
    extra: dict = field(default_factory=dict)


def arrays(case):
    """The case's inputs, NCHW, the same in every process (fixed seed)."""
    rng = np.random.default_rng(SEED)
    dt = np.dtype(case.dtype)
    s = case.spec
    if isinstance(s, Train):
        x = rng.standard_normal((s.batch, 1, 8, 8)).astype(dt)
        return Arrays(x, extra={"labels": rng.integers(0, 10, s.batch)})
    if isinstance(s, Plane):
        if s.name == "notes6x8":
            x, k = _notes_image(dt)
            return Arrays(x, k)
        return Arrays(rng.standard_normal(s.hw).astype(dt), rng.standard_normal(s.khw).astype(dt))
    if isinstance(s, Pool):
        x = rng.standard_normal(s.x, dtype=np.float64).astype(dt)
        go = rng.standard_normal(s.out_shape).astype(dt) if case.backward else None
        return Arrays(x, go=go)
    if s.name == "notes6x8":
        x, k = _notes_image(dt)
        a = Arrays(x.reshape(s.x), k.reshape(s.w))
    else:
        x = rng.standard_normal(s.x, dtype=np.float64).astype(dt)
        w = (rng.standard_normal(s.w) / np.sqrt(math.prod(s.w[1:]))).astype(dt)
        a = Arrays(x, w, rng.standard_normal(s.w[0]).astype(dt) if s.bias else None)
    if case.backward:
        a.go = rng.standard_normal(s.out_shape).astype(dt)
    return a
