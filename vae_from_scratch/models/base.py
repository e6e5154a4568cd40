"""The plumbing every model shares: its parts' arrays under one name each.

A model is built from parts (Sequentials, layers, a codebook, a noise level), each
Parametric (nn/layer.py) with its own `params` and `grads`.  The optimizer and the
checkpoints see one flat dict: "<part>.<name>" for every array of every part, in the
order of the parts (the same arrays, not copies), as Sequential names its layers'
arrays "<index>.<name>" (both by nn/layer.py's named_arrays).  A part named "" keeps
its arrays' own names (the VQ-VAE's "codebook").
"""

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


__all__ = ["Model"]
