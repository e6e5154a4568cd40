"""Pooling: the Numba kernels (same maths as numpy_pool.py, thesis §2.8.2).

Each image of the batch is pooled by one thread (`prange` over n); a window is read
in row-major order, so max-pooling keeps the *first* maximal element, as the
reference's `argmax` does, and sends the whole gradient there.  Unpooling is a strided
copy that NumPy already does at memory speed, so this backend reuses the reference.
"""

import functools

import numpy as np
from numba import njit, prange

from .numpy_im2col import conv_output_size
from .numpy_pool import unpool2d_backward, unpool2d_forward  # noqa: F401  (re-exported)

JIT = dict(parallel=True, cache=True, fastmath=False, nogil=True)


@functools.lru_cache(maxsize=None)
def max_pool_kernels(k, s):
    """Max pooling (forward, backward) compiled for one window size k and stride s, on
    first use: constants of the compiled code, unrolled by the compiler (numba_conv's
    `window_kernels` says why)."""

    @njit(**JIT)
    def forward(x, out, argmax):
        """out[n, c, i, j] = max of the k×k window at (i·s, j·s); argmax: its offset u·k + v."""
        N, C, Ho, Wo = out.shape
        for n in prange(N):
            for c in range(C):
                for i in range(Ho):
                    for j in range(Wo):
                        best = x[n, c, i * s, j * s]
                        where = 0
                        for u in range(k):
                            for v in range(k):
                                value = x[n, c, i * s + u, j * s + v]
                                if value > best:                     # ties keep the first
                                    best = value
                                    where = u * k + v
                        out[n, c, i, j] = best
                        argmax[n, c, i, j] = where

    @njit(**JIT)
    def backward(dout, argmax, dx):
        N, C, Ho, Wo = dout.shape
        for n in prange(N):
            dx[n] = 0.0
            for c in range(C):
                for i in range(Ho):
                    for j in range(Wo):
                        where = argmax[n, c, i, j]
                        dx[n, c, i * s + where // k, j * s + where % k] += dout[n, c, i, j]

    return forward, backward



@njit(**JIT)
def _avg_pool_kernel(x, k, s, out):
    N, C, Ho, Wo = out.shape
    for n in prange(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    total = 0.0
                    for u in range(k):
                        for v in range(k):
                            total += x[n, c, i * s + u, j * s + v]
                    out[n, c, i, j] = total / (k * k)


@njit(**JIT)
def _avg_pool_backward_kernel(dout, k, s, dx):
    N, C, Ho, Wo = dout.shape
    for n in prange(N):
        dx[n] = 0.0
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    share = dout[n, c, i, j] / (k * k)
                    for u in range(k):
                        for v in range(k):
                            dx[n, c, i * s + u, j * s + v] += share


def _pooled_shape(x_shape, kernel, stride):
    N, C, H, W = x_shape
    return N, C, conv_output_size(H, kernel, stride, 0), conv_output_size(W, kernel, stride, 0)


def max_pool2d_forward(x, kernel, stride):
    """As numpy_pool.max_pool2d_forward.  x: (N, C, H, W) -> (N, C, Ho, Wo)."""
    shape = _pooled_shape(x.shape, kernel, stride)
    out = np.empty(shape, dtype=x.dtype)
    argmax = np.empty(shape, dtype=np.int32)
    max_pool_kernels(kernel, stride)[0](np.ascontiguousarray(x), out, argmax)
    return out, (x.shape, argmax, kernel, stride)


def max_pool2d_backward(dout, cache):
    x_shape, argmax, kernel, stride = cache
    dx = np.empty(x_shape, dtype=dout.dtype)
    max_pool_kernels(kernel, stride)[1](np.ascontiguousarray(dout), argmax, dx)
    return dx


def avg_pool2d_forward(x, kernel, stride):
    """As numpy_pool.avg_pool2d_forward.  x: (N, C, H, W) -> (N, C, Ho, Wo)."""
    out = np.empty(_pooled_shape(x.shape, kernel, stride), dtype=x.dtype)
    _avg_pool_kernel(np.ascontiguousarray(x), kernel, stride, out)
    return out, (x.shape, kernel, stride)


def avg_pool2d_backward(dout, cache):
    x_shape, kernel, stride = cache
    dx = np.empty(x_shape, dtype=dout.dtype)
    _avg_pool_backward_kernel(np.ascontiguousarray(dout), kernel, stride, dx)
    return dx


__all__ = ["max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward",
           "avg_pool2d_backward", "unpool2d_forward", "unpool2d_backward"]
