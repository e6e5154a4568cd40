"""Sequential: a network as a composition of layers, α⁽ᴸ⁾ ∘ … ∘ α⁽¹⁾ (thesis eq. 2.23).

Forward runs the layers in order; backward runs their backward passes in reverse
order, each turning dL/d(output) into dL/d(input) — backpropagation is nothing more
than the chain rule applied one layer at a time.

`params` and `grads` give one flat, named view of every layer's arrays for the
optimizer: the entry "3.W" is layer 3's params["W"] (the same array, not a copy), and
a Sequential inside a Sequential gives names like "1.0.W".
"""

import numpy as np

from .layer import Layer, named_arrays


class Sequential(Layer):
    """x -> layers[-1](… layers[0](x) …).  A Sequential is itself a layer and can be nested.

    No kernel of its own: forward and backward call the layers' (each names its kernel).
    """

    def __init__(self, *layers):
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        if not layers:
            raise ValueError("Sequential: needs at least one layer")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"Sequential: item {i} is a {type(layer).__name__}, not a Layer")
        backends = {layer.backend.name for layer in layers}
        if len(backends) > 1:
            raise ValueError(f"Sequential: all layers must share one backend, got {sorted(backends)}")
        leaves = _leaves(layers)
        if len({id(layer) for layer in leaves}) < len(leaves):
            # a layer keeps the cache of its last forward pass, so a second use would
            # overwrite the first one's and its gradients would silently be wrong
            shared = sorted({repr(a) for a in leaves if sum(b is a for b in leaves) > 1})
            raise ValueError(f"Sequential: the same layer instance appears more than once "
                             f"({', '.join(shared)}); create a separate layer for each use")
        # Not Layer.__init__: params and grads are not dicts of our own but views
        # derived from the layers (the properties below).
        self.backend = layers[0].backend
        self.dtype = next((layer.dtype for layer in leaves if layer.params), layers[0].dtype)
        self.layers = list(layers)
        self._cache = self._out_shape = self._checked = None

    @property
    def params(self):
        return named_arrays(enumerate(self.layers), "params")

    @property
    def grads(self):
        return named_arrays(enumerate(self.layers), "grads")

    def output_shape(self, in_shape):
        shape = tuple(in_shape)
        for i, layer in enumerate(self.layers):
            try:
                shape = layer.output_shape(shape)
            except ValueError as error:
                raise ValueError(f"Sequential layer {i}: {error}") from None
        return shape

    def _forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x, None

    def _backward(self, dy, cache):
        """The layers' backward passes in reverse order (the chain rule, one layer at a
        time); no arithmetic here: each layer's backward names the kernel it calls."""
        first = self.first_layer_needing_backward(self._need_input_grad)
        for layer in reversed(self.layers[first + 1:]):
            dy = layer.backward(dy)
        if first == len(self.layers):
            return None
        # the first layer needs dL/dx only if the caller does
        return self.layers[first].backward(dy, need_input_grad=self._need_input_grad)

    def first_layer_needing_backward(self, need_input_grad):
        """0, or when nobody needs dL/dx, the first layer with parameters: the layers
        before it (a Flatten, say) only pass dL/dx on, so their backward is skipped."""
        if need_input_grad:
            return 0
        return next((i for i, layer in enumerate(self.layers) if layer.n_params),
                    len(self.layers))

    def astype(self, dtype):
        self.dtype = np.dtype(dtype)
        self._checked = None
        for layer in self.layers:
            layer.astype(dtype)
        return self

    def __getitem__(self, i):
        return self.layers[i]

    def __len__(self):
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def __str__(self):
        return f"Sequential({len(self.layers)} layers)"

    def __repr__(self):
        lines = [f"  ({i}) {layer!r}".replace("\n", "\n  ") for i, layer in enumerate(self.layers)]
        return "Sequential(\n" + "\n".join(lines) + "\n)"

    def summary(self, in_shape):
        """A table of each layer's output shape and parameter count for an input shape."""
        rows = [("input", "", tuple(in_shape))]
        shape = tuple(in_shape)
        for i, layer in enumerate(self.layers):
            shape = layer.output_shape(shape)
            rows.append((f"{i}", repr(layer).replace("\n", " "), shape))
        width = max(len(r[1]) for r in rows)
        out = [f"{'':>5}  {'layer':<{width}}  output shape"]
        out += [f"{a:>5}  {b:<{width}}  {c}" for a, b, c in rows]
        out.append(f"parameters: {self.n_params:,}")
        return "\n".join(out)


def _leaves(layers):
    """Every non-Sequential layer inside `layers`, nested Sequentials opened up."""
    out = []
    for layer in layers:
        out.extend(_leaves(layer.layers) if isinstance(layer, Sequential) else [layer])
    return out
