"""cyconv: CNN primitives for NumPy.

Cross-correlation, convolution, multi-channel batched convolution, pooling and the
gradients of all of them, as compiled Cython kernels under a thin, validating API.
"""

__version__ = "0.1.0"

# _config first: it bounds OMP_NUM_THREADS before any OpenMP module loads the runtime.
from . import _config  # noqa: F401, I001
from ._adaptive_pooling import adaptive_avg_pool2d, adaptive_avg_pool2d_backward, adaptive_max_pool2d
from ._config import get_num_threads, set_num_threads, show_config
from ._convolution import conv2d, convolve2d, correlate2d
from ._convolution_grad import Conv2dGradients, conv2d_backward, conv_transpose2d
from ._pooling import avg_pool2d, avg_pool2d_backward, max_pool2d, max_pool2d_backward
from ._receptive_field import ReceptiveField, receptive_field
from ._shapes import conv2d_output_shape, output_size, pool2d_output_shape
from ._unfold import fold, unfold
from ._workspace import get_workspace_limit, set_workspace_limit

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

# Submodules loaded on first attribute access (`import cyconv; cyconv.nn`), as
# `import scipy; scipy.signal` does: `import cyconv` stays as fast as before and never
# imports dask.
_SUBMODULES = ("d2l", "dask", "nn")


def __getattr__(name):
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_SUBMODULES))
