"""The CuPy backend: the same kernels as the NumPy reference, written for a GPU.

`make_kernels(xp)` writes every kernel of `KERNELS` in terms of an array module
`xp`.  `build()` hands it `cupy`, and every array then lives on the GPU; the tests
hand it `numpy`, so that the very code that runs on a GPU is checked, line for line,
against the reference on any machine.  Conventions are the reference's (docs/design.md,
"Conventions"): NCHW data, cross-correlation, the transposed convolution is the
adjoint of the convolution, max-pool ties go to the first maximum in row-major order,
unpooling puts the value in the top-left corner.

What changes for a GPU is how the windows are formed.  A GPU is fast at a few large
operations and slow at many small ones (each launch costs microseconds, and every
transfer to the host waits for the device), so each kernel below is a handful of
whole-array operations and never leaves the device: no `.get()`, no `float(...)`
of a device array, no NumPy call on a device array.

* im2col is a *gather*: x_pad[..., rows, cols] with two small integer index arrays.
  (The reference's `sliding_window_view` exists in CuPy only from version 13,
  cupy/cupy#7575; the gather needs no particular version.)  The windows come out
  channels-last, (N, Ho, Wo, k, k, C), so that one window is one contiguous row of
  the matrix product.
* col2im is a gather too.  The reference adds each window back onto the image, one
  offset (or one window) at a time; here each pixel instead *reads* the few window
  entries that cover it, at most ⌈k/s⌉ per axis, and sums them.  That is one gather
  and one sum whatever k is (the background encoder's 30×30 kernel included), and
  it needs no atomic scatter-add, so the sum is deterministic.

Every function used here exists in NumPy ≥ 1.22 and CuPy ≥ 12 (most since CuPy 7):
pad, arange, clip, where, broadcast_to, ascontiguousarray, integer-array indexing,
matmul and the reductions.
"""

import functools

from . import KERNELS, Backend, BackendUnavailable
from .numpy_im2col import conv_output_size

INSTALL_HINT = ('install it with: pip install -e ".[gpu]" (CUDA 12) or -e ".[gpu-cuda13]" '
                '(CUDA 13); nvidia-smi shows the CUDA version of the driver')


# --- window index arithmetic ----------------------------------------------------------
#
# The index arrays depend only on the sizes, not on the data, so they are built once
# per shape and kept (lru_cache): on a GPU each `arange` and each arithmetic step is a
# kernel launch, and rebuilding them at every call of a small layer would cost more
# than the layer.  They are only ever read, never written.  (On a GPU they live on the
# device that was current when they were built: one GPU per process, as everywhere here.)

@functools.lru_cache(maxsize=256)
def _window_rows(xp, n_windows, kernel, stride):
    """rows[i, u] = i·s + u: the padded position that offset u of window i reads.  (n, k)"""
    return xp.arange(n_windows)[:, None] * stride + xp.arange(kernel)[None, :]


@functools.lru_cache(maxsize=256)
def _covering_windows(xp, size, n_windows, kernel, stride, padding):
    """Which (window, offset) pairs read each position y = 0 … size − 1 of one axis.

    Window i reads padded positions i·s … i·s + k − 1, so position y (padded y + p)
    is read by offset u of window i exactly when i·s + u = y + p.  Write
    y + p = q·s + r (0 ≤ r < s); then u ≡ r (mod s), i.e. u = r + t·s and i = q − t
    for t = 0, 1, …, and u < k leaves t < ⌈k/s⌉ = T.  Returns three (size, T) arrays:
    window i and offset u, and `valid`, false where the pair does not exist (i < 0,
    i ≥ n, or u ≥ k): padding, and the rows a stride skips, are read by no window.
    The pairs that do not exist are clipped into range so that they can still index
    (their values are then discarded): CuPy does not raise on an out-of-range index
    as NumPy does, it wraps around, so nothing here may rely on an IndexError.
    """
    T = -(-kernel // stride)
    y = xp.arange(size)[:, None] + padding                 # the padded position
    t = xp.arange(T)[None, :]
    window = y // stride - t
    offset = y % stride + t * stride
    valid = (window >= 0) & (window < n_windows) & (offset < kernel)
    return xp.clip(window, 0, n_windows - 1), xp.clip(offset, 0, kernel - 1), valid


@functools.lru_cache(maxsize=64)
def _slot_numbers(xp, n_slots):
    """[[0], [1], …, [n − 1]]: the slot numbers of a pooling window, row-major.  (n, 1)"""
    return xp.arange(n_slots)[:, None]


def _pad(xp, x, padding):
    """Zero-pad the two spatial axes of x: (N, C, H, W) -> (N, C, H + 2p, W + 2p)."""
    if padding == 0:
        return x
    p = padding
    return xp.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))


def _im2col(xp, x, kernel, stride, padding):
    """Every k×k window of the zero-padded input, gathered channels-last.

    x: (N, C, H, W) -> windows: (N, Ho, Wo, k, k, C) with
    windows[n, i, j, u, v, c] = x_pad[n, c, i·s + u, j·s + v]   (Ho, Wo: conv_output_size).

    Indexing the (N, H, W, C) view with rows[i, u] on the H axis and cols[j, v] on
    the W axis, broadcast to (Ho, Wo, k, k), puts those four axes where H and W were.
    The result is a new array in this layout, so reshaping it into the matrix of the
    product is free (NumPy gives it C order; should CuPy not, the reshape copies once).
    """
    N, C, H, W = x.shape
    Ho = conv_output_size(H, kernel, stride, padding)
    Wo = conv_output_size(W, kernel, stride, padding)
    rows = _window_rows(xp, Ho, kernel, stride)                     # (Ho, k)
    cols = _window_rows(xp, Wo, kernel, stride)                     # (Wo, k)
    x_hwc = _pad(xp, x, padding).transpose(0, 2, 3, 1)              # a view, no copy
    return x_hwc[:, rows[:, None, :, None], cols[None, :, None, :]]


def _col2im(xp, windows, x_shape, stride, padding):
    """The adjoint of `_im2col`: add every window entry back onto the pixel it came from.

    windows: (N, Ho, Wo, k, k, C), x_shape = (N, C, H, W) -> (N, C, H, W) with
    out[n, c, y, x] = Σ windows[n, i, j, u, v, c] over i·s + u − p = y, j·s + v − p = x.

    Each pixel gathers the ≤ T×T entries that cover it (T = ⌈k/s⌉, see
    `_covering_windows`), the pairs that do not exist are replaced by 0, and the
    T×T axes are summed.  The gather has shape (N, H, W, T, T, C): about as large
    as `windows` itself, since Ho·k ≈ H·T.
    """
    N, C, H, W = x_shape
    _, Ho, Wo, k, _, _ = windows.shape
    i, u, row_ok = _covering_windows(xp, H, Ho, k, stride, padding)     # (H, T) each
    j, v, col_ok = _covering_windows(xp, W, Wo, k, stride, padding)     # (W, T) each
    # broadcast the row tables over (H, 1, T, 1) and the column tables over (1, W, 1, T)
    i, u, row_ok = (a[:, None, :, None] for a in (i, u, row_ok))
    j, v, col_ok = (a[None, :, None, :] for a in (j, v, col_ok))
    pieces = windows[:, i, j, u, v]                                     # (N, H, W, T, T, C)
    exists = (row_ok & col_ok)[..., None]                               # (H, W, T, T, 1)
    # a zero of the windows' dtype, so that float32 stays float32 under any promotion rule
    zero = windows.dtype.type(0)
    summed = xp.where(exists, pieces, zero).sum(axis=(3, 4))           # (N, H, W, C)
    return xp.ascontiguousarray(summed.transpose(0, 3, 1, 2))


def _rows_per_pixel(a):
    """(N, C, H, W) -> (N·H·W, C): one row per pixel, in the row order of `_im2col`'s matrix."""
    return a.transpose(0, 2, 3, 1).reshape(-1, a.shape[1])


def _from_rows_per_pixel(xp, rows, N, H, W):
    """The inverse of `_rows_per_pixel`: (N·H·W, C) -> contiguous (N, C, H, W)."""
    return xp.ascontiguousarray(rows.reshape(N, H, W, -1).transpose(0, 3, 1, 2))


def _weight_matrix(w):
    """A (A, B, k, k) weight as an (A, k·k·B) matrix whose columns follow the (u, v, b)
    order of a channels-last window, so that
    (matrix row a) · (window as a row) = Σ_{b,u,v} w[a, b, u, v] · window[u, v, b]."""
    A, B, k, _ = w.shape
    return w.transpose(0, 2, 3, 1).reshape(A, k * k * B)


def _weight_from_matrix(xp, m, w_shape):
    """The inverse of `_weight_matrix`: (A, k·k·B) -> contiguous (A, B, k, k)."""
    A, B, k, _ = w_shape
    return xp.ascontiguousarray(m.reshape(A, k, k, B).transpose(0, 3, 1, 2))


# --- the kernels -----------------------------------------------------------------------

def make_kernels(xp):
    """Every kernel of `KERNELS` on the array module `xp` (numpy or cupy), as a dict.

    Signatures and results are those of the NumPy reference (backend/__init__.py);
    the arrays that go in and come out belong to `xp`.
    """

    # dense (thesis eq. 2.24, examples as rows): y = x wᵀ + b
    def dense_forward(x, w, b):
        """x: (N, in), w: (out, in), b: (out,) -> y: (N, out)."""
        return x @ w.T + b, (x, w)

    def dense_backward(dy, cache, need_dx=True):
        """dy: (N, out) -> (dx, dw, db):  dx = dy w,  dw = dyᵀ x,  db = Σ_n dy."""
        x, w = cache
        dx = dy @ w if need_dx else None
        return dx, dy.T @ x, dy.sum(axis=0)

    # convolution (thesis eq. 2.32) as im2col + one matrix product
    def conv2d_forward(x, w, b, stride=1, padding=0):
        """x: (N, C, H, W), w: (F, C, k, k), b: (F,) -> out: (N, F, Ho, Wo),
        out[n, f, i, j] = b[f] + Σ_{c,u,v} w[f, c, u, v] · x_pad[n, c, i·s + u, j·s + v]."""
        N = x.shape[0]
        F, C, k, _ = w.shape
        windows = _im2col(xp, x, k, stride, padding)                    # (N, Ho, Wo, k, k, C)
        Ho, Wo = windows.shape[1:3]
        cols = windows.reshape(N * Ho * Wo, k * k * C)                  # one row per output pixel
        w_mat = _weight_matrix(w)                                       # (F, k·k·C)
        out = cols @ w_mat.T                                            # (N·Ho·Wo, F)
        out += b
        return _from_rows_per_pixel(xp, out, N, Ho, Wo), (x.shape, cols, w_mat, w.shape,
                                                          stride, padding)

    def conv2d_backward(dout, cache, need_dx=True):
        """dout: (N, F, Ho, Wo) -> (dx, dw, db) shaped like (x, w, b); dx is None if not need_dx.

        With dy the rows of dout (one per output pixel, like the rows of cols):
        dw = dyᵀ · cols (each weight meets the inputs it multiplied), db = Σ dout, and
        dx = col2im(dy · w): each output pixel sends dout · w back to the window it read."""
        x_shape, cols, w_mat, w_shape, stride, padding = cache
        N, F, Ho, Wo = dout.shape
        _, C, k, _ = w_shape
        dy = _rows_per_pixel(dout)                                      # (N·Ho·Wo, F)
        dw = _weight_from_matrix(xp, dy.T @ cols, w_shape)
        db = dout.sum(axis=(0, 2, 3))
        dx = None
        if need_dx:
            dwindows = (dy @ w_mat).reshape(N, Ho, Wo, k, k, C)
            dx = _col2im(xp, dwindows, x_shape, stride, padding)
        return dx, dw, db

    # transposed convolution (thesis §2.8.3): the adjoint of conv2d, so the two maps
    # above swap roles: its forward pass is conv2d's col2im, its input gradient an im2col
    def conv_transpose2d_forward(x, w, b, stride=1, padding=0, output_padding=(0, 0)):
        """x: (N, C, H, W), w: (C, F, k, k), b: (F,) -> out: (N, F, Ho, Wo),
        Ho = s·(H − 1) − 2p + k + op_h (likewise Wo).  Input pixel (i, j) adds
        x[n, c, i, j] · w[c, f] onto the k×k block of the output at (i·s − p, j·s − p)."""
        N, C, H, W = x.shape
        _, F, k, _ = w.shape
        op_h, op_w = output_padding
        Ho = stride * (H - 1) - 2 * padding + k + op_h
        Wo = stride * (W - 1) - 2 * padding + k + op_w
        x_rows = _rows_per_pixel(x)                                     # (N·H·W, C)
        w_mat = _weight_matrix(w)                                       # (C, k·k·F)
        blocks = (x_rows @ w_mat).reshape(N, H, W, k, k, F)             # what pixel (i, j) paints
        out = _col2im(xp, blocks, (N, F, Ho, Wo), stride, padding)
        out += b[None, :, None, None]
        return out, (x.shape, x_rows, w_mat, w.shape, stride, padding)

    def conv_transpose2d_backward(dout, cache):
        """dout: (N, F, Ho, Wo) -> (dx, dw, db).

        The adjoint of a scatter is a gather: dx is conv2d of dout with w read as an
        F -> C weight, and dw pairs each input pixel with the output block it painted.
        Because output_padding < stride, dout has exactly H × W windows."""
        x_shape, x_rows, w_mat, w_shape, stride, padding = cache
        N, C, H, W = x_shape
        _, F, k, _ = w_shape
        windows = _im2col(xp, dout, k, stride, padding)                 # (N, H, W, k, k, F)
        assert windows.shape[1:3] == (H, W), (windows.shape, x_shape)
        cols = windows.reshape(N * H * W, k * k * F)
        dx = _from_rows_per_pixel(xp, cols @ w_mat.T, N, H, W)
        dw = _weight_from_matrix(xp, x_rows.T @ cols, w_shape)
        db = dout.sum(axis=(0, 2, 3))
        return dx, dw, db

    # pooling (thesis §2.8.2): the same windows, reduced per channel
    def max_pool2d_forward(x, kernel, stride):
        """h = max over each k×k window.  x: (N, C, H, W) -> out: (N, C, Ho, Wo).

        The winner of a window is its first maximal slot in row-major (u, v) order, as
        NumPy's argmax picks it, and the whole gradient goes to it.  It is written out
        rather than left to `argmax`: the smallest slot number among the slots equal to
        the maximum (or, where the maximum is NaN, among the NaN slots: NumPy's argmax
        stops at the first NaN).  A minimum of integers has one answer however the
        reduction is ordered, so the rule holds on every CuPy version and reduction
        path, whatever argmax does with ties (docs/performance.md, "CuPy")."""
        N, C = x.shape[:2]
        k2 = kernel * kernel
        windows = _im2col(xp, x, kernel, stride, 0)                     # (N, Ho, Wo, k, k, C)
        Ho, Wo = windows.shape[1:3]
        slots = windows.reshape(N, Ho, Wo, k2, C)
        out = slots.max(axis=3)                                         # (N, Ho, Wo, C)
        top = out[:, :, :, None, :]
        is_top = (slots == top) | (slots != slots)      # a NaN slot (x != x) makes top NaN
        winner = xp.where(is_top, _slot_numbers(xp, k2), k2).min(axis=3)   # (N, Ho, Wo, C)
        return xp.ascontiguousarray(out.transpose(0, 3, 1, 2)), (x.shape, winner, kernel, stride)

    def max_pool2d_backward(dout, cache):
        """dout: (N, C, Ho, Wo) -> dx: (N, C, H, W); each window's gradient goes to its winner."""
        x_shape, winner, kernel, stride = cache
        N, C, Ho, Wo = dout.shape
        dy = dout.transpose(0, 2, 3, 1)[:, :, :, None, :]               # (N, Ho, Wo, 1, C)
        slot = _slot_numbers(xp, kernel * kernel)                       # (k², 1)
        is_winner = slot == winner[:, :, :, None, :]                    # (N, Ho, Wo, k², C)
        dslots = xp.where(is_winner, dy, dout.dtype.type(0))
        return _col2im(xp, dslots.reshape(N, Ho, Wo, kernel, kernel, C), x_shape, stride, 0)

    def avg_pool2d_forward(x, kernel, stride):
        """h = mean over each k×k window.  x: (N, C, H, W) -> out: (N, C, Ho, Wo)."""
        windows = _im2col(xp, x, kernel, stride, 0)                     # (N, Ho, Wo, k, k, C)
        out = windows.mean(axis=(3, 4))
        return xp.ascontiguousarray(out.transpose(0, 3, 1, 2)), (x.shape, kernel, stride)

    def avg_pool2d_backward(dout, cache):
        """dout: (N, C, Ho, Wo) -> dx: every pixel of a window receives dout / k²."""
        x_shape, kernel, stride = cache
        N, C, Ho, Wo = dout.shape
        share = (dout / (kernel * kernel)).transpose(0, 2, 3, 1)        # (N, Ho, Wo, C)
        dwindows = xp.broadcast_to(share[:, :, :, None, None, :], (N, Ho, Wo, kernel, kernel, C))
        return _col2im(xp, dwindows, x_shape, stride, 0)

    # unpooling (thesis §2.8.3, s = r): the value in the top-left corner of an r×r block
    def unpool2d_forward(x, size):
        """x: (N, C, H, W) -> out: (N, C, r·H, r·W), out[n, c, r·i, r·j] = x[n, c, i, j]."""
        N, C, H, W = x.shape
        out = xp.zeros((N, C, size * H, size * W), dtype=x.dtype)
        out[:, :, ::size, ::size] = x
        return out, size

    def unpool2d_backward(dout, cache):
        """dout: (N, C, r·H, r·W) -> dx: (N, C, H, W): the gradient at the corners."""
        size = cache
        return xp.ascontiguousarray(dout[:, :, ::size, ::size])

    kernels = dict(
        dense_forward=dense_forward, dense_backward=dense_backward,
        conv2d_forward=conv2d_forward, conv2d_backward=conv2d_backward,
        conv_transpose2d_forward=conv_transpose2d_forward,
        conv_transpose2d_backward=conv_transpose2d_backward,
        max_pool2d_forward=max_pool2d_forward, max_pool2d_backward=max_pool2d_backward,
        avg_pool2d_forward=avg_pool2d_forward, avg_pool2d_backward=avg_pool2d_backward,
        unpool2d_forward=unpool2d_forward, unpool2d_backward=unpool2d_backward)
    assert tuple(kernels) == KERNELS
    return kernels


# --- loading ---------------------------------------------------------------------------

def _import_cupy():
    """The cupy module, or BackendUnavailable saying why there is none."""
    try:
        import cupy
    except ImportError as error:
        if isinstance(error, ModuleNotFoundError) and error.name == "cupy":
            raise BackendUnavailable(
                f"the 'cupy' backend needs CuPy and a CUDA GPU; CuPy is not installed here "
                f"({error}); {INSTALL_HINT}") from None
        # CuPy is there but fails to load, e.g. a wheel built for another CUDA version
        raise BackendUnavailable(
            f"the 'cupy' backend: CuPy is installed but cannot be imported ({error}); "
            f"reinstall the CuPy wheel that matches your CUDA version, or {INSTALL_HINT}"
        ) from None
    return cupy


def _check_device(cupy):
    """BackendUnavailable unless CuPy sees a CUDA device and can run a kernel on it.

    Importing CuPy needs no GPU; the first use does.  Counting the devices fails
    without a driver; the small computation compiles and runs one kernel, which also
    fails without the CUDA runtime libraries (NVRTC) or with a driver too old for them.
    Any failure here means the backend cannot run, so every exception is caught and
    its text is passed on.
    """
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as error:
        raise BackendUnavailable(
            f"the 'cupy' backend: CuPy is installed, but there is no working CUDA driver or "
            f"device ({type(error).__name__}: {error})") from None
    if count < 1:
        raise BackendUnavailable("the 'cupy' backend: CuPy is installed, but it sees no "
                                 "CUDA device")
    try:
        probe = (cupy.arange(4, dtype=cupy.float32) * 2).sum()
        ok = int(probe) == 12                   # one transfer to the host, once, at load time
    except Exception as error:
        raise BackendUnavailable(
            f"the 'cupy' backend: CuPy sees {count} CUDA device(s) but cannot run a kernel "
            f"({type(error).__name__}: {error})") from None
    if not ok:
        raise BackendUnavailable(f"the 'cupy' backend: a test computation on the GPU gave "
                                 f"{probe!r} instead of 12")


def build():
    """The 'cupy' Backend, or BackendUnavailable saying why it cannot run here."""
    cupy = _import_cupy()
    _check_device(cupy)
    return Backend(name="cupy", xp=cupy, **make_kernels(cupy))


__all__ = ["build", "make_kernels"]
