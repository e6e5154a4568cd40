"""How many threads NumPy's BLAS (OpenBLAS) uses, read and set while the program runs.

Why a VAE library cares: OpenBLAS splits a matrix product's sums over its threads, so
the same product gives results that differ in the last bits from one thread count to
another, and a training run with them; and its threads, like Numba's, keep spinning for
a while after each product.  Beside Numba's threads, one BLAS thread is the faster
setting for the thesis's small convolutions, while large products (the MLP VAE) want
every core (docs/performance.md).

`OPENBLAS_NUM_THREADS=1` in the environment does the same, but only if set before NumPy
is imported; this module changes the count afterwards through OpenBLAS's own C function
(`openblas_set_num_threads`, under the name NumPy's bundled copy exports), found in the
libraries the process has loaded.  Where NumPy uses another BLAS (MKL, Accelerate), the
functions return None and change nothing.
"""

import ctypes
import os
import sys

import numpy as np

# Exported names, NumPy's bundled scipy-openblas first (64-bit integer build).
_PREFIXES = ("scipy_openblas_", "openblas_")
_SUFFIXES = ("64_", "")
_functions = None


def _loaded_openblas_paths():
    """Paths of the OpenBLAS libraries in this process (Linux: from /proc/self/maps)."""
    paths = []
    if sys.platform.startswith("linux"):
        try:
            with open("/proc/self/maps") as maps:
                for line in maps:
                    path = line.split()[-1] if len(line.split()) >= 6 else ""
                    if "openblas" in os.path.basename(path).lower() and path not in paths:
                        paths.append(path)
        except OSError:
            pass
    libs = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs")
    if os.path.isdir(libs):                                   # wheels on Linux and Windows
        paths += [os.path.join(libs, f) for f in sorted(os.listdir(libs))
                  if "openblas" in f.lower() and os.path.join(libs, f) not in paths]
    return paths


def _find_functions():
    """(get, set) C functions of the loaded OpenBLAS, or (None, None)."""
    global _functions
    if _functions is None:
        _functions = (None, None)
        np.ones((2, 2)) @ np.ones((2, 2))                     # make sure BLAS is loaded
        for path in _loaded_openblas_paths():
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            for prefix in _PREFIXES:
                for suffix in _SUFFIXES:
                    get = getattr(lib, f"{prefix}get_num_threads{suffix}", None)
                    set_ = getattr(lib, f"{prefix}set_num_threads{suffix}", None)
                    if get is not None and set_ is not None:
                        get.restype, get.argtypes = ctypes.c_int, []
                        set_.restype, set_.argtypes = None, [ctypes.c_int]
                        _functions = (get, set_)
                        return _functions
    return _functions


def get_blas_threads():
    """The number of threads OpenBLAS uses now, or None where it cannot be read."""
    get, _ = _find_functions()
    return None if get is None else int(get())


def set_blas_threads(n):
    """Use n threads in OpenBLAS from now on; returns the previous count, or None (and
    changes nothing) where NumPy's BLAS is not an OpenBLAS this module can reach.
    The environment variable is set as well, for child processes and for the Numba
    backend, which chooses how its own threads wait from it (backend/__init__.py)."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"set_blas_threads: expected a positive int, got {n!r}")
    get, set_ = _find_functions()
    if set_ is None:
        return None
    previous = int(get())
    set_(n)
    os.environ["OPENBLAS_NUM_THREADS"] = str(n)
    return previous


__all__ = ["get_blas_threads", "set_blas_threads"]
