"""The base classes every layer shares: parameters and gradients (Parametric), and the
shape checks (Layer).

A layer is a function y = α(x; θ) with a hand-written backward pass (thesis eq. 2.23:
a network is a composition α⁽ᴸ⁾ ∘ … ∘ α⁽¹⁾).  Each layer implements three methods:

    output_shape(in_shape)       the shape of y, or a ValueError saying what was expected
    _forward(x)     -> (y, cache)
    _backward(dy, cache) -> dx   and writes ∂L/∂θ into self.grads

and the base class wraps them in `forward` / `backward`, which check the input and the
incoming gradient, so that the layer code itself is only the mathematics.

Contract for the optimizer: `params` and `grads` are dicts of arrays allocated once.
`backward` *overwrites* `grads` in place (it does not accumulate), and an optimizer
updates `params` in place, so a reference to either dict stays valid for the life
of the layer (until `astype`, which allocates new arrays).  The parts of a model that
are not layers (the VQ-VAE's codebook, the dual VAE's noise level) keep the same
contract: they are Parametric too.
"""

import numpy as np

from ..backend import get_backend
from ..backend.numpy_im2col import conv_output_size


class Parametric:
    """Anything with parameters: a backend, a dtype, the params/grads dicts, astype."""

    def __init__(self, backend=None, dtype=np.float32):
        self.backend = get_backend(backend)
        self.dtype = np.dtype(dtype)
        self.params = {}
        self.grads = {}

    @property
    def xp(self):
        """The backend's array module: numpy, or cupy on the GPU."""
        return self.backend.xp

    def _add_param(self, name, value):
        """Register a parameter (drawn on the host) and its gradient buffer."""
        self.params[name] = self.backend.asarray(value, dtype=self.dtype)
        self.grads[name] = self.xp.zeros_like(self.params[name])

    def astype(self, dtype):
        """Convert parameters and gradients to `dtype` (new arrays) and return self."""
        self.dtype = np.dtype(dtype)
        for name in self.params:
            self.params[name] = self.params[name].astype(self.dtype)
            self.grads[name] = self.xp.zeros_like(self.params[name])
        return self

    @property
    def n_params(self):
        return sum(int(p.size) for p in self.params.values())


def named_arrays(parts, which):
    """One flat dict of the `which` ("params" or "grads") of several Parametrics.

    parts: (prefix, part) pairs.  The entry "<prefix>.<name>" is part.<which>[name], the
    same array (not a copy); a prefix "" keeps the name as it is.  Sequential names its
    layers' arrays so ("3.W"), and the models their parts' (models/base.py)."""
    return {name if prefix == "" else f"{prefix}.{name}": array
            for prefix, part in parts for name, array in getattr(part, which).items()}


class Layer(Parametric):
    """Base class: Parametric's params/grads, shape-checked forward and backward."""

    def __init__(self, backend=None, dtype=np.float32):
        super().__init__(backend, dtype)
        self._cache = None
        self._out_shape = None
        self._checked = None        # (input shape, dtype, output shape) of the last validation
        self._need_input_grad = True

    # --- what each layer provides -------------------------------------------------
    def output_shape(self, in_shape):
        """Shape of the output for an input of shape `in_shape` (default: unchanged)."""
        return tuple(in_shape)

    def _forward(self, x):
        raise NotImplementedError

    def _backward(self, dy, cache):
        raise NotImplementedError

    # --- what the base class does for all of them ---------------------------------
    def forward(self, x):
        """y = α(x); keeps what `backward` needs."""
        # Validate once per input shape and dtype, not on every minibatch.
        key = (getattr(x, "shape", None), getattr(x, "dtype", None))
        if self._checked is None or self._checked[:2] != key:
            self._check_array(x, "input")
            self._checked = key + (self.output_shape(x.shape),)   # raises ValueError on bad input
        y, self._cache = self._forward(x)
        assert y.shape == self._checked[2], (self, y.shape, self._checked[2])
        self._out_shape = y.shape
        return y

    __call__ = forward

    def backward(self, dy, need_input_grad=True):
        """Given dL/dy of the last forward's output, fill `grads` and return dL/dx.

        need_input_grad=False says that nothing needs dL/dx (the layer sees the data):
        a layer with a costly input gradient (Conv2D, Dense) then skips it and returns
        None; the others ignore the hint."""
        self._check_array(dy, "gradient")
        if self._out_shape is None:
            raise ValueError(f"{self}: backward() called before forward(): there is no output "
                             f"yet to match the gradient of shape {tuple(dy.shape)} against")
        if tuple(dy.shape) != tuple(self._out_shape):
            raise ValueError(f"{self}: expected a gradient of shape {tuple(self._out_shape)} "
                             f"(the shape of the last output), got {tuple(dy.shape)}")
        self._need_input_grad = bool(need_input_grad)
        return self._backward(dy, self._cache)

    def _check_array(self, a, what):
        """A floating-point array; for a layer with parameters, of the parameters' dtype
        (mixing float32 weights with float64 data would silently compute in float64)."""
        if not hasattr(a, "shape") or not hasattr(a, "dtype"):
            raise TypeError(f"{self}: expected the {what} as an array, got {type(a).__name__}")
        if a.dtype.kind != "f":
            raise TypeError(f"{self}: expected a floating-point {what}, got dtype {a.dtype}; "
                            f"convert it with .astype(np.float32)")
        if self.params and a.dtype != self.dtype:
            raise TypeError(f"{self}: expected a {self.dtype} {what} (the dtype of the layer's "
                            f"parameters), got {a.dtype}; convert the {what} with "
                            f".astype(np.{self.dtype}) or the layer with .astype(np.{a.dtype})")

    def _set_grad(self, name, value):
        self.grads[name][...] = value

    def astype(self, dtype):
        self._checked = None                    # the input's dtype is checked again
        return super().astype(dtype)

    def __repr__(self):
        return f"{type(self).__name__}({self._describe()})"

    def _describe(self):
        return ""

    # --- helpers for the shape checks of image layers -----------------------------
    def _expect_ndim(self, in_shape, ndim, layout):
        if len(in_shape) != ndim:
            raise ValueError(f"{self}: expected a {ndim}-D input of shape {layout}, "
                             f"got a {len(in_shape)}-D input of shape {tuple(in_shape)}")

    def _expect_channels(self, in_shape, channels):
        if in_shape[1] != channels:
            raise ValueError(f"{self}: expected {channels} input channel(s), shape "
                             f"(N, {channels}, H, W), got shape {tuple(in_shape)}")

    def _window_positions(self, in_shape, kernel, stride, padding, allow_uncovered):
        """(Ho, Wo) for k×k windows at this stride over the padded input, with checks."""
        H, W = in_shape[2], in_shape[3]
        if H + 2 * padding < kernel or W + 2 * padding < kernel:
            raise ValueError(f"{self}: the input must be at least {kernel}×{kernel} after padding "
                             f"{padding}, got shape {tuple(in_shape)} "
                             f"(padded {H + 2 * padding}×{W + 2 * padding})")
        rows, cols = (unread_pixels(n, kernel, stride, padding) for n in (H, W))
        if (len(rows) or len(cols)) and not allow_uncovered:
            raise ValueError(
                f"{self}: with kernel {kernel}, stride {stride} and padding {padding}, no window "
                f"reads row(s) {_short(rows)} and column(s) {_short(cols)} of the input of shape "
                f"{tuple(in_shape)}; expected every pixel to be read. Change the architecture, "
                f"or pass allow_uncovered=True to ignore them as most frameworks do.")
        return (conv_output_size(H, kernel, stride, padding),
                conv_output_size(W, kernel, stride, padding))


def unread_pixels(size, kernel, stride, padding):
    """Indices (0 … size − 1, in the unpadded input) that no window reads along one axis.

    Window i reads padded positions i·s … i·s + k − 1, for i = 0 … n − 1.  A position q
    is read iff the last window that starts at or before it, i = min(⌊q / s⌋, n − 1),
    still reaches it: q − i·s < k.  Two ways to lose pixels: a stride that does not
    divide size + 2p − k leaves the last rows (unless they are padding), and a stride
    larger than the kernel skips rows between windows.
    """
    n = conv_output_size(size, kernel, stride, padding)
    q = np.arange(size) + padding
    last = np.minimum(q // stride, n - 1)
    return np.flatnonzero(q - last * stride >= kernel)


def _short(indices, most=6):
    shown = ", ".join(str(i) for i in indices[:most])
    return "[" + shown + (", …" if len(indices) > most else "") + "]"
