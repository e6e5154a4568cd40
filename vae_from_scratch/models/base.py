"""The plumbing every model shares: its parts' arrays under one name each.

A model is built from parts (Sequentials, layers, a codebook, a noise level), each
Parametric (nn/layer.py) with its own `params` and `grads`.  The optimizer and the
checkpoints see one flat dict: "<part>.<name>" for every array of every part, in the
order of the parts (the same arrays, not copies), as Sequential names its layers'
arrays "<index>.<name>" (both by nn/layer.py's named_arrays).  A part named "" keeps
its arrays' own names (the VQ-VAE's "codebook").

It also holds the one check of what a user hands a model (`check_batch`, and
`check_batch_shape` for codes), so that a wrong batch fails at the model's door with a
message in the model's terms, `VAE: expected images of shape (N, 1, 8, 8), got (8, 8)`,
instead of deep inside a layer.
"""

import math

import numpy as np

from ..backend import to_numpy
from ..nn.layer import Parametric, named_arrays


class Model(Parametric):
    """Base class of the models; a subclass sets `self.parts`, {name: part} in order.

    params, grads    the flat views, "<part>.<name>" -> array
    dtype, backend   those of the first part (the parts share them)
    xp, n_params     as for any Parametric
    astype(dtype)    converts every part (float64 for gradient checks), returns self
    """

    # Not Parametric.__init__: params and grads are views of the parts' dicts.

    @property
    def params(self):
        return named_arrays(self.parts.items(), "params")

    @property
    def grads(self):
        return named_arrays(self.parts.items(), "grads")

    @property
    def dtype(self):
        return next(iter(self.parts.values())).dtype

    @property
    def backend(self):
        return next(iter(self.parts.values())).backend

    def astype(self, dtype):
        for part in self.parts.values():
            part.astype(dtype)
        return self

    def _image_shape(self, x_shape, decoder, code_size, channel_factor=1):
        """x_shape as a tuple; when None, read off the decoder's output for one code of
        `code_size` zeros (its channels divided by channel_factor, 2 when the decoder also
        outputs a variance per pixel).  For models built from parts without a builder."""
        if x_shape is not None:
            return tuple(int(d) for d in x_shape)
        who = type(self).__name__
        try:
            out = decoder.forward(decoder.xp.zeros((1, code_size), dtype=decoder.dtype))
        except (ValueError, TypeError) as error:
            raise ValueError(f"{who}: cannot tell the shape of the images from the decoder "
                             f"({error}); pass x_shape=…") from error
        shape = tuple(int(d) for d in out.shape[1:])
        if channel_factor > 1 and shape:
            shape = (shape[0] // channel_factor,) + shape[1:]
        return shape


def _shape_text(shape):
    return "(" + ", ".join(["N"] + [str(int(d)) for d in shape]) + ")"


def check_batch_shape(who, x, shape, what="images", one="image"):
    """x is an array of shape (N, *shape) with N ≥ 1, else ValueError (TypeError for
    something that is not an array) saying who asked, what was expected and what came:

        VAE: expected images of shape (N, 1, 8, 8), got (8, 8)
        VAE: expected a batch of at least one image of shape (N, 1, 8, 8), got (0, 1, 8, 8)

    what, one: the plural and the singular of what x holds ("images", "image").
    """
    want = _shape_text(shape)
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        raise TypeError(f"{who}: expected {what} as an array of shape {want}, "
                        f"got {type(x).__name__}")
    got = tuple(int(d) for d in x.shape)
    if len(got) != len(shape) + 1 or got[1:] != tuple(int(d) for d in shape):
        raise ValueError(f"{who}: expected {what} of shape {want}, got {got}")
    if got[0] == 0:
        raise ValueError(f"{who}: expected a batch of at least one {one} of shape {want}, "
                         f"got {got}")


def check_batch(who, x, shape, xp, unit_interval=""):
    """A batch of images handed to a model: of shape (N, *shape) with N ≥ 1
    (check_batch_shape), every value finite, and with unit_interval (the reason, e.g.
    "for the Bernoulli likelihood") every value in [0, 1].  Else ValueError:

        VAE: expected finite images, got 2 NaN and 1 infinite among the 128 values, the
            first at index (0, 0, 3, 1)
        VAE: expected images with values in [0, 1] for the Bernoulli likelihood, got
            values from -0.5 to 2

    One pass over the batch on any backend (xp, the model's array module, NumPy or
    CuPy): its minimum and maximum, brought to the host together (one transfer), then
    `check_batch_values`.  Returns nothing and changes nothing.
    """
    check_batch_shape(who, x, shape)
    low, high = to_host(xp, {"low": x.min(), "high": x.max()}).values()
    check_batch_values(who, x, xp, low, high, unit_interval)


def check_batch_values(who, x, xp, low, high, unit_interval=""):
    """The values half of `check_batch`, given the batch's minimum and maximum on the host
    (a NaN makes both NaN, an infinity makes one of them infinite): for data in [0, 1]
    both in [0, 1], otherwise both finite.  A model that brings other numbers to the
    host anyway sends these two along (DualVAE.loss_and_grads); the slow counting for
    the message runs only on bad input."""
    if unit_interval:
        if 0.0 <= low and high <= 1.0:                  # False for a NaN
            return
    elif math.isfinite(low) and math.isfinite(high):
        return
    bad = ~xp.isfinite(x)
    n_bad = int(bad.sum())
    if n_bad:
        n_nan = int(xp.isnan(x).sum())
        first = np.unravel_index(int(xp.flatnonzero(bad)[0]), x.shape)
        raise ValueError(f"{who}: expected finite images, got {n_nan} NaN and {n_bad - n_nan} "
                         f"infinite among the {x.size} values, the first at index "
                         f"{tuple(int(i) for i in first)}")
    raise ValueError(f"{who}: expected images with values in [0, 1] {unit_interval}, got "
                     f"values from {low:g} to {high:g}")


def to_host(xp, arrays):
    """Several arrays of `xp` brought to the host in one transfer.

    arrays: {name: 0-d or 1-d array}.  Returns {name: value} in the same order: a Python
    float for a 0-d array (what float(a) gives), a NumPy array of the array's own dtype
    for a 1-d one, the values exactly as they were (the pieces are joined in their
    common dtype, which holds each of them exactly, and cast back).  On a GPU every
    transfer waits for the device to finish all the work queued before it, so the
    numbers a step needs on the host are gathered there and copied once
    (docs/performance.md, "CuPy").
    """
    pieces = {name: xp.reshape(a, (-1,)) for name, a in arrays.items()}
    host = to_numpy(xp.concatenate(list(pieces.values())))
    out, start = {}, 0
    for name, piece in pieces.items():
        values = host[start:start + piece.size].astype(piece.dtype, copy=False)
        start += piece.size
        out[name] = values if getattr(arrays[name], "ndim", 0) else float(values[0])
    return out


__all__ = ["Model", "check_batch", "check_batch_shape", "check_batch_values", "to_host"]
