"""The Numba backend: the same kernels as the NumPy reference, compiled for the CPU.

    convolution, transposed convolution    numba_conv.py   (direct loops, phase planes)
    max and average pooling                numba_pool.py
    dense layers, unpooling                the NumPy reference (BLAS and strided copies
                                           are already as fast as a loop can be)

Kernels are compiled with `@njit(parallel=True, cache=True, fastmath=False)`: the first
call on a machine compiles them (seconds) and writes the machine code next to the
sources (`__pycache__`), so later processes only load it.  `warmup()` triggers that
for float32 and float64 and reports the time, so that a benchmark or a training run
can report compilation apart from computation.
"""

import time

import numpy as np

from . import KERNELS, Backend, numpy_dense
from . import numba_conv, numba_pool


def warmup():
    """Compile (or load from the cache) every kernel for float32 and float64; seconds taken."""
    t0 = time.perf_counter()
    for dtype in (np.float32, np.float64):
        x = np.ones((2, 2, 6, 6), dtype)
        w = np.ones((3, 2, 3, 3), dtype)
        b = np.zeros(3, dtype)
        out, cache = numba_conv.conv2d_forward(x, w, b, 2, 1)
        numba_conv.conv2d_backward(out, cache)
        out, cache = numba_conv.conv_transpose2d_forward(x, w.transpose(1, 0, 2, 3).copy(), b,
                                                         2, 1, (1, 1))
        numba_conv.conv_transpose2d_backward(out, cache)
        for pool in ("max", "avg"):
            out, cache = getattr(numba_pool, f"{pool}_pool2d_forward")(x, 2, 2)
            getattr(numba_pool, f"{pool}_pool2d_backward")(out, cache)
    return time.perf_counter() - t0


def build():
    kernels = {}
    for module in (numpy_dense, numba_conv, numba_pool):
        kernels.update({name: getattr(module, name) for name in KERNELS if hasattr(module, name)})
    missing = set(KERNELS) - set(kernels)
    assert not missing, missing
    return Backend(name="numba", xp=np, warmup=warmup, **kernels)
