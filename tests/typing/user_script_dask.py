"""The cyconv.dask part of the user script (type-checked only where dask is installed)."""

from __future__ import annotations

from typing import cast

import numpy as np
import numpy.typing as npt
from typing_extensions import assert_type

import cyconv

w64: npt.NDArray[np.float64] = np.zeros((4, 3, 3, 3))
k: npt.NDArray[np.float64] = np.ones((3, 3))

# --- cyconv.dask
import dask.array as da

# (dask's own constructors are only partly annotated: that line is dask's, not cyconv's)
lazy = cast(da.Array, da.zeros((8, 3, 32, 32), chunks=(2, 3, 32, 32)))  # pyright: ignore[reportUnknownMemberType]
assert_type(cyconv.dask.conv2d(lazy, w64, padding="same"), da.Array)
cyconv.dask.correlate2d(lazy, k, padding=1, padding_mode="symmetric", axes=(-2, -1))
dask_vals, dask_idx = cyconv.dask.max_pool2d(lazy, 2, return_indices=True)
cyconv.dask.avg_pool2d(lazy, 2, stride=1, padding=1)
dg = cyconv.dask.conv2d_backward(lazy, lazy, w64, padding=1, compute=("weight", "bias"))
per_task: int = cyconv.dask.task_threads()
print(dask_vals, dask_idx, dg.weight, per_task)

