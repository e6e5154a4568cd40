"""The Numba backend: the same kernels as the NumPy reference, compiled for the CPU.

    convolution, transposed convolution    numba_conv.py   (im2col and col2im loops,
                                                           BLAS for the products)
    max and average pooling                numba_pool.py
    Adam's update (optional, optim.Adam)   numba_optim.py  (one pass per tensor)
    dense layers, unpooling                the NumPy reference (BLAS and strided copies
                                           are already as fast as a loop can be)

Kernels are compiled with `@njit(parallel=True, cache=True, fastmath=False)`: the first
call on a machine compiles them (seconds) and writes the machine code next to the
sources (`__pycache__`), so later processes only load it.  The window loops are
compiled once per kernel size and stride (numba_conv.window_kernels says why).
The direct kernels of numba_direct.py (one input channel) are generated and compiled
once per (kernel size, stride, output channels).  `warmup()` triggers compilation for
float32 and float64 and for the windows of the reference models, and for their direct
convolution in float32 (the models' dtype; about 5 s more when cold), and reports the
time, so that a benchmark or a training run can report compilation apart from
computation; another window size compiles (or loads) on first use.
"""

import time

import numpy as np

from . import KERNELS, Backend, numpy_dense
from . import numba_conv, numba_direct, numba_optim, numba_pool


# (kernel size, stride) of the reference models' layers: the dual VAE's convolutions
# (6, 2), (3, 2), (30, 30) and transposed convolutions (4, 2), conv_vae's (4, 2); the
# pooling windows of MaxPool2D(2) and of the dual VAE's target g, (30, 30).
REFERENCE_WINDOWS = ((6, 2), (3, 2), (30, 30), (4, 2))
REFERENCE_POOLS = ((2, 2), (30, 30))
# (in channels, out channels, kernel size, stride) of the reference models' layers that
# numba_direct computes: the dual VAE's first convolution, Conv2D(1→16, k=6, s=2)
REFERENCE_DIRECT = ((1, 16, 6, 2),)


def warmup():
    """Compile (or load from the cache) every kernel for float32 and float64, for the
    reference models' window sizes; seconds taken."""
    t0 = time.perf_counter()
    for dtype in (np.float32, np.float64):
        for k, s in REFERENCE_WINDOWS:
            x = np.ones((2, 2, k + s, k + s), dtype)
            w = np.ones((3, 2, k, k), dtype)
            b = np.zeros(3, dtype)
            out, cache = numba_conv.conv2d_forward(x, w, b, s, 0)
            numba_conv.conv2d_backward(out, cache)
            out, cache = numba_conv.conv_transpose2d_forward(out, w, b[:2], s, 0)  # 3 -> 2
            numba_conv.conv_transpose2d_backward(out, cache)
        for k, s in REFERENCE_POOLS:
            x = np.ones((2, 2, k + s, k + s), dtype)
            for pool in ("max", "avg"):
                out, cache = getattr(numba_pool, f"{pool}_pool2d_forward")(x, k, s)
                getattr(numba_pool, f"{pool}_pool2d_backward")(out, cache)
    for C, F, k, s in REFERENCE_DIRECT:         # float32 only, the models' dtype: 5 s each
        assert numba_direct.use_direct(C, F, k), (C, F, k)
        x = np.ones((2, C, k + s, k + s), np.float32)
        w, b = np.ones((F, C, k, k), np.float32), np.zeros(F, np.float32)
        out, cache = numba_conv.conv2d_forward(x, w, b, s, 0)
        numba_conv.conv2d_backward(out, cache, need_dx=False)
    numba_optim.warmup()
    return time.perf_counter() - t0


def build():
    kernels = {}
    for module in (numpy_dense, numba_conv, numba_pool):
        kernels.update({name: getattr(module, name) for name in KERNELS if hasattr(module, name)})
    missing = set(KERNELS) - set(kernels)
    assert not missing, missing
    return Backend(name="numba", xp=np, warmup=warmup, adam_update=numba_optim.adam_update,
                   **kernels)
