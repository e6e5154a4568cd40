"""Backends: one array module and one set of kernel functions per kind of hardware.

Layers never call NumPy kernels directly; they ask their backend:

    bk = get_backend("numpy")
    out, cache = bk.conv2d_forward(x, w, b, stride, padding)
    dx, dw, db = bk.conv2d_backward(dout, cache)

and allocate arrays with `bk.xp` (the array module: `numpy`, or `cupy` on a GPU).
A backend is a `Backend` record that names every function in `KERNELS`; a new
backend (Numba, CuPy) is a module that builds one and registers it in `_LOADERS`,
and no layer changes.

Kernel signatures (CS231n style: forward returns (out, cache), backward takes it back):

    dense_forward(x, w, b)                                   -> (y, cache)
    dense_backward(dy, cache, need_dx=True)                  -> (dx, dw, db)
    conv2d_forward(x, w, b, stride, padding)                 -> (out, cache)
    conv2d_backward(dout, cache, need_dx=True)               -> (dx, dw, db)
    conv_transpose2d_forward(x, w, b, stride, padding, (op_h, op_w)) -> (out, cache)
    conv_transpose2d_backward(dout, cache)                   -> (dx, dw, db)
    max_pool2d_forward(x, kernel, stride)                    -> (out, cache)
    max_pool2d_backward(dout, cache)                         -> dx
    avg_pool2d_forward(x, kernel, stride)                    -> (out, cache)
    avg_pool2d_backward(dout, cache)                         -> dx
    unpool2d_forward(x, size)                                -> (out, cache)
    unpool2d_backward(dout, cache)                           -> dx

need_dx=False asks a backward kernel to skip the input gradient (nothing needs the
gradient with respect to the data) and return None in its place.

The reference kernels are numpy_dense.py, numpy_conv.py and numpy_pool.py (the last two
built on numpy_im2col.py); the fast ones numba_conv.py, numba_pool.py (numba_backend.py)
and cupy_backend.py.  loops.py writes every kernel once more, loop by loop, straight
from its definition, with the same names and signatures: not a backend (far too slow),
but the definitions to read beside the vectorised kernels, and what the tests check
them against.

The backend is chosen by name: an explicit argument, else the environment variable
`VAE_BACKEND`, else "numpy".  "auto" takes the fastest backend that works here:
"cupy" where a GPU works, else "numba" where Numba is installed, else "numpy".
Asking for a backend that cannot run here raises `BackendUnavailable` saying why.
"""

import os
from dataclasses import dataclass, fields
from types import ModuleType
from typing import Callable, Optional

import numpy as np

KERNELS = (
    "dense_forward", "dense_backward",
    "conv2d_forward", "conv2d_backward",
    "conv_transpose2d_forward", "conv_transpose2d_backward",
    "max_pool2d_forward", "max_pool2d_backward",
    "avg_pool2d_forward", "avg_pool2d_backward",
    "unpool2d_forward", "unpool2d_backward",
)

ENV_VAR = "VAE_BACKEND"


@dataclass(frozen=True)
class Backend:
    """An array module and the kernels the layers call.  Compare backends by `name`."""

    name: str
    xp: ModuleType
    dense_forward: Callable
    dense_backward: Callable
    conv2d_forward: Callable
    conv2d_backward: Callable
    conv_transpose2d_forward: Callable
    conv_transpose2d_backward: Callable
    max_pool2d_forward: Callable
    max_pool2d_backward: Callable
    avg_pool2d_forward: Callable
    avg_pool2d_backward: Callable
    unpool2d_forward: Callable
    unpool2d_backward: Callable
    # compiles every kernel ahead of use (a JIT backend) and returns the seconds it took
    warmup: Optional[Callable] = None
    # Adam's update of one tensor in one compiled pass (numba_optim.py), bit for bit the
    # reference's; None: optim.Adam's own NumPy lines
    adam_update: Optional[Callable] = None

    def asarray(self, a, dtype=None):
        """Move an array (for example NumPy weights drawn on the host) onto this backend."""
        return self.xp.asarray(a, dtype=dtype)

    def to_numpy(self, a):
        """Bring an array back to the host as a NumPy array (see `to_numpy`)."""
        return to_numpy(a)

    def __repr__(self):
        return f"Backend({self.name!r})"

    # A backend is a singleton per name: copying a layer must not copy its backend
    # (a module cannot be deep-copied anyway).
    def __deepcopy__(self, memo):
        return self

    def __copy__(self):
        return self


def to_numpy(a):
    """An array on the host as a NumPy array (for logging, plots, checkpoints).
    Device arrays (CuPy) copy themselves to the host with `.get()`."""
    return a.get() if hasattr(a, "get") else np.asarray(a)


def array_module(a):
    """The array module an array belongs to: `cupy` for a CuPy array, else `numpy`.

    Functions that take arrays rather than a backend (the distributions, the
    objectives) use it so that the same code runs on the host and on a GPU."""
    if type(a).__module__.split(".")[0] == "cupy":
        import cupy
        return cupy
    return np


def _load_numpy():
    from . import numpy_conv, numpy_dense, numpy_pool

    kernels = {}
    for module in (numpy_dense, numpy_conv, numpy_pool):
        kernels.update({name: getattr(module, name) for name in KERNELS if hasattr(module, name)})
    return Backend(name="numpy", xp=np, **kernels)


def _load_numba():
    # Numba's OpenMP threads and OpenBLAS's both spin while they wait and, with as many
    # threads as cores, steal each other's cores: they wait passively, unless BLAS has
    # one thread and spinning is faster (docs/performance.md).  Set before Numba starts
    # its threads; a value the user chose is kept.
    from .blas_threads import get_blas_threads
    if get_blas_threads() != 1 and os.environ.get("OPENBLAS_NUM_THREADS", "").strip() != "1":
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import numba  # noqa: F401
    except ImportError as error:
        raise BackendUnavailable(
            f"the 'numba' backend needs Numba, which is not installed here ({error}); "
            f"install it with: pip install -e \".[fast]\"") from None
    from .numba_backend import build
    return build()


def _load_cupy():
    from .cupy_backend import build       # raises BackendUnavailable with the reason
    return build()


# name -> function that builds the backend (imports happen only when one is asked for)
_LOADERS = {"numpy": _load_numpy, "numba": _load_numba, "cupy": _load_cupy}
# "auto" tries these in order and takes the first that loads
_AUTO_ORDER = ("cupy", "numba", "numpy")
_CACHE = {}

assert tuple(f.name for f in fields(Backend))[2:2 + len(KERNELS)] == KERNELS


class BackendUnavailable(RuntimeError):
    """A known backend cannot run here (its package is missing, or no GPU works)."""


def describe(backend):
    """The line a run prints first: which backend, on which library; for a JIT backend
    the kernels are compiled (or loaded from the on-disk cache) now, and the time is
    reported here, apart from the run's own timings."""
    xp = backend.xp
    text = f"backend: {backend.name} ({xp.__name__} {getattr(xp, '__version__', '')}"
    if backend.name == "numba":
        import numba
        text += f", Numba {numba.__version__}, {numba.get_num_threads()} threads"
    if backend.xp is np:
        from .blas_threads import get_blas_threads
        blas = get_blas_threads()
        text += f", {blas} BLAS thread{'s' * (blas != 1)}" if blas is not None else ""
    text += ")"
    if backend.warmup is not None:
        text += f"; kernels compiled or loaded from the cache in {backend.warmup():.1f} s"
    return text


def available_backends():
    """Names of the backends that load on this machine, fastest first."""
    names = []
    for name in _AUTO_ORDER:
        try:
            get_backend(name)
        except (BackendUnavailable, ValueError):
            continue
        names.append(name)
    return names


def default_backend_name():
    """The backend asked for by the environment (`VAE_BACKEND`), else "numpy"."""
    return os.environ.get(ENV_VAR, "").strip().lower() or "numpy"


def get_backend(name=None):
    """Return the `Backend` called `name` ("numpy", or "auto"; None reads `VAE_BACKEND`).

    A `Backend` passed in is returned as it is, so every constructor can take either.
    An unknown name raises ValueError listing the known ones.
    """
    if isinstance(name, Backend):
        return name
    if name is None:
        name = default_backend_name()
    if not isinstance(name, str):
        raise TypeError(f"backend must be a name or a Backend, got {type(name).__name__}")
    key = name.strip().lower()
    if key == "auto":
        return get_backend(available_backends()[0])
    if key not in _LOADERS:
        known = ", ".join(sorted(_LOADERS) + ["auto"])
        raise ValueError(f"unknown backend {name!r}; known backends: {known}")
    if key not in _CACHE:
        _CACHE[key] = _LOADERS[key]()
    return _CACHE[key]


__all__ = ["Backend", "BackendUnavailable", "KERNELS", "ENV_VAR", "array_module", "to_numpy", "describe",
           "available_backends", "default_backend_name", "get_backend"]
