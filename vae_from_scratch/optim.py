"""Optimizers: how the parameters move once `backward` has filled the gradients.

The thesis trains by gradient *ascent* on the ELBO: Algorithm 1 (batch gradient descent)
updates θ → θ + η ∇_θ L, and minibatch SGD (§2.5.3) replaces the full gradient by its
estimate on a minibatch M (thesis eq. 2.21; eq. 2.22 for the ELBO).  Maximizing f is
minimizing −f (slides §1, Definition 1.1), so here, as in every framework, we *minimize*
a loss (the negative ELBO) and step against g = ∇_θ loss, which `backward` writes into
`grads`.  With η the learning rate and t = 1, 2, … the number of the update:

    SGD        θ ← θ − η g                          (Algorithm 1 with loss = −L)

    Momentum   v ← μ v − η g                        (Polyak 1964;
               θ ← θ + v                             Sutskever et al. 2013)
    Nesterov   v ← μ v − η g,   θ ← θ + μ v − η g   (the step "looks ahead")

    Adam       m ← β₁ m + (1 − β₁) g                (Kingma & Ba 2015, Algorithm 1)
               v ← β₂ v + (1 − β₂) g²               (elementwise)
               m̂ = m / (1 − β₁ᵗ),  v̂ = v / (1 − β₂ᵗ)    (bias correction)
               θ ← θ − η m̂ / (√v̂ + ε)

The thesis leaves the update rule open (Algorithm 2 only says "Update parameters θ, ϕ";
§2.5.4: "more complex strategies … can lead to better results"); momentum and Adam are
not derived there, so the citations above are to the papers that introduced them.
The velocity v of Momentum starts at 0; m and v of Adam start at 0, which biases them
towards 0 in the first steps — the factors 1/(1 − βᵗ) undo exactly that bias.

Around the update, the same for every optimizer, `Optimizer.step` does:

- learning rate: η is a float, or a schedule η(t) of the number t of updates already
  done (`constant`, `step_decay`, … in schedules.py), so that a checkpoint
  only needs t;
- gradient clipping (Pascanu et al. 2013): if the global norm
  ‖g‖ = √(Σ over every tensor Σ g²) exceeds c = `clip_norm`, every gradient is
  multiplied by c / ‖g‖: the same direction, a step of norm c.  The update uses a
  scaled *copy*; the arrays in `grads` are not modified;
- a non-finite ‖g‖ raises FloatingPointError naming the offending tensors before any
  parameter is written, instead of silently filling the model with NaN.

Contract (nn/layer.py): `params` and `grads` are dicts name -> array with the same keys
and shapes; the optimizer updates `params` IN PLACE (p -= …), so every other reference
to the arrays stays valid.  The arithmetic is done in the parameters' dtype (float32
stays float32), and the arrays may be NumPy or CuPy.

    opt = Adam(net.params, net.grads, lr=1e-3, clip_norm=10.0)
    for x, y in batches:
        net.backward(dloss(net.forward(x), y))
        grad_norm = opt.step()
    np.savez("optimizer.npz", **opt.state_dict())          # no pickle needed
"""

import math
import numbers

import numpy as np

from .backend import array_module as _xp, to_numpy
from .utils import check_number


# --- NumPy or CuPy ---------------------------------------------------------------------
def _to_host(a):
    """A NumPy *copy* of `a` (a state dict must not change when the optimizer goes on)."""
    return np.array(to_numpy(a))


# --- the base class --------------------------------------------------------------------
class Optimizer:
    """Shared by every optimizer: learning rate, clipping, the finite check, checkpoints.

    params, grads: dicts name -> floating-point array, same keys, shapes and dtypes.
    lr:            a float > 0, or a schedule: a callable step -> float, called with the
                   number of updates already done (0 for the first update).
    clip_norm:     None, or c > 0: clip the global gradient norm to c (module docstring).

    A subclass lists its per-parameter buffers in `buffers` (e.g. ("m", "v")) and writes
    the update of one parameter in `_update(name, p, g, lr)`.
    """

    buffers = ()

    def __init__(self, params, grads, lr=1e-3, *, clip_norm=None):
        self.params, self.grads = params, grads
        self._check_params_and_grads()
        self.lr = lr
        if not callable(lr):
            check_number(type(self).__name__, "lr", lr)
        self.clip_norm = (None if clip_norm is None
                          else check_number(type(self).__name__, "clip_norm", clip_norm))
        self.step_count = 0
        self.current_lr()                       # a schedule must give a valid lr at step 0
        # state[buffer][param name]: an array like the parameter, allocated once
        self.state = {buf: {name: _xp(p).zeros_like(p) for name, p in params.items()}
                      for buf in self.buffers}

    def _check_params_and_grads(self):
        owner = type(self).__name__
        if not isinstance(self.params, dict) or not isinstance(self.grads, dict):
            raise TypeError(f"{owner}: params and grads must be dicts name -> array, got "
                            f"{type(self.params).__name__} and {type(self.grads).__name__}")
        if not self.params:
            raise ValueError(f"{owner}: params is empty; there is nothing to optimize")
        missing = [k for k in self.params if k not in self.grads]
        extra = [k for k in self.grads if k not in self.params]
        if missing or extra:
            raise ValueError(f"{owner}: params and grads must have the same keys; "
                             f"missing from grads: {missing}, in grads but not in params: {extra}")
        for name, p in self.params.items():
            g = self.grads[name]
            for what, a in (("params", p), ("grads", g)):
                if not hasattr(a, "shape") or getattr(a, "dtype", np.dtype(object)).kind != "f":
                    raise ValueError(f"{owner}: {what}[{name!r}] must be a floating-point array, "
                                     f"got {type(a).__name__} {getattr(a, 'dtype', '')}")
            if g.shape != p.shape or g.dtype != p.dtype:
                raise ValueError(f"{owner}: grads[{name!r}] must have the shape and dtype of "
                                 f"params[{name!r}], {tuple(p.shape)} {p.dtype}; "
                                 f"got {tuple(g.shape)} {g.dtype}")

    def current_lr(self):
        """The learning rate of the next update: lr, or lr(step_count) for a schedule."""
        lr = self.lr(self.step_count) if callable(self.lr) else self.lr
        if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not 0 <= lr < math.inf:
            raise ValueError(f"{type(self).__name__}: the learning rate at step {self.step_count} "
                             f"must be a finite number ≥ 0, got {lr!r}")
        return float(lr)                        # a Python float keeps float32 arrays float32

    def grad_norm(self):
        """The global L2 norm √(Σ over every tensor Σ g²) of the gradients, as a float.
        Raises FloatingPointError, naming the tensors, if it is not finite."""
        names = list(self.grads)
        if not names:
            return 0.0
        xp = _xp(self.grads[names[0]])
        # one transfer to the host for all tensors (on a GPU each float() waits for it)
        sums = to_numpy(xp.stack([(self.grads[n] * self.grads[n]).sum() for n in names]))
        squares = dict(zip(names, sums.tolist()))
        norm = math.sqrt(sum(squares.values()))
        if not math.isfinite(norm):
            bad = [name for name, g in self.grads.items() if not bool(_xp(g).isfinite(g).all())]
            worst = max(squares, key=squares.get)
            why = (f"NaN or inf in grads {bad}" if bad else f"the squares overflowed "
                   f"{self.grads[worst].dtype} (largest in grads[{worst!r}])")
            raise FloatingPointError(f"{type(self).__name__}: the gradient norm at step "
                                     f"{self.step_count} is {norm}: {why}; "
                                     f"no parameter was updated")
        return norm

    def step(self):
        """One update of every parameter, in place.  Returns the global gradient norm
        before clipping (a float), which is worth logging."""
        lr = self.current_lr()
        norm = self.grad_norm()
        scale = 1.0
        if self.clip_norm is not None and norm > self.clip_norm:
            scale = self.clip_norm / norm                              # Pascanu et al. 2013
        for name, p in self.params.items():
            g = self.grads[name]
            if scale != 1.0:
                g = g * scale                   # a scaled copy: the caller's grads stay as they are
            self._update(name, p, g, lr)
        self.step_count += 1
        return norm

    def _update(self, name, p, g, lr):
        raise NotImplementedError

    def zero_grad(self):
        """Fill every gradient with 0 (backward overwrites them anyway)."""
        for g in self.grads.values():
            g[...] = 0

    # --- checkpoints ---------------------------------------------------------------------
    def state_dict(self):
        """Everything `step` needs besides the hyperparameters, as a flat dict of NumPy
        arrays (copies on the host), ready for `np.savez` without pickle:

            "optimizer"          0-d str array, the class name (checked on load)
            "step_count"         0-d int64 array
            "<buffer>.<name>"    e.g. "m.0.W", "v.0.W" (Adam), "velocity.0.W" (Momentum)

        The hyperparameters (lr or schedule, β's, μ, clip_norm) are not saved: they come
        from the constructor of the optimizer that loads the state.
        """
        state = {"optimizer": np.array(type(self).__name__),
                 "step_count": np.array(self.step_count, dtype=np.int64)}
        for buf, arrays in self.state.items():
            for name, a in arrays.items():
                state[f"{buf}.{name}"] = _to_host(a)
        return state

    def load_state_dict(self, state):
        """Restore a `state_dict` exactly (into the buffers already allocated).
        Raises ValueError, before changing anything, on another optimizer's state,
        missing or extra keys, or buffers of the wrong shape or dtype."""
        owner = type(self).__name__
        if "optimizer" not in state:
            raise ValueError(f"{owner}.load_state_dict: expected the state of optimizer {owner}, "
                             f"got a dict without the entry 'optimizer' (not from state_dict()?)")
        if str(state["optimizer"]) != owner:
            raise ValueError(f"{owner}.load_state_dict: expected the state of optimizer {owner}, "
                             f"got the state of optimizer {str(state['optimizer'])}")
        expected = self.state_dict()
        missing = sorted(set(expected) - set(state))
        extra = sorted(set(state) - set(expected))
        if missing or extra:
            raise ValueError(f"{owner}.load_state_dict: the keys do not match; "
                             f"missing: {missing}, unexpected: {extra}")
        for key, want in expected.items():
            got = np.asarray(state[key])
            if key != "optimizer" and (got.shape != want.shape or got.dtype != want.dtype):
                raise ValueError(f"{owner}.load_state_dict: {key!r} must have shape {want.shape} "
                                 f"and dtype {want.dtype}, got {got.shape} {got.dtype}")
        step_count = int(state["step_count"])
        if step_count < 0:
            raise ValueError(f"{owner}.load_state_dict: step_count must be ≥ 0, got {step_count}")
        self.step_count = step_count
        for buf, arrays in self.state.items():
            for name, a in arrays.items():
                a[...] = _xp(a).asarray(state[f"{buf}.{name}"])

    def __repr__(self):
        lr = getattr(self.lr, "__name__", None) if callable(self.lr) else self.lr
        return (f"{type(self).__name__}(lr={lr}, clip_norm={self.clip_norm}, "
                f"{len(self.params)} tensors, step {self.step_count})")


# --- the three update rules ---------------------------------------------------------
class SGD(Optimizer):
    """Plain (minibatch) stochastic gradient descent: p ← p − lr · g (thesis Algorithm 1
    with the gradient of eq. 2.21, descending the loss = −ELBO)."""

    def __init__(self, params, grads, lr=1e-2, *, clip_norm=None):
        super().__init__(params, grads, lr, clip_norm=clip_norm)

    def _update(self, name, p, g, lr):
        p -= lr * g


class Momentum(Optimizer):
    """SGD with momentum (Polyak 1964), in the "velocity" form of Sutskever et al. 2013:

        v ← μ v − lr · g,    p ← p + v                     (v starts at 0)

    v is a running, decaying sum of past steps, so the steps grow along directions where
    the gradients agree (up to 1/(1 − μ) times lr · g) and cancel where they alternate.
    nesterov=True takes the step from the look-ahead point: p ← p + μ v − lr · g
    (with the new v), the rearranged form of Nesterov's accelerated gradient.
    The velocity is saved as "velocity.<name>".
    """

    buffers = ("velocity",)

    def __init__(self, params, grads, lr=1e-2, momentum=0.9, nesterov=False, *, clip_norm=None):
        super().__init__(params, grads, lr, clip_norm=clip_norm)
        self.momentum = check_number("Momentum", "momentum", momentum, 0.0, 1.0,
                                      low_open=False, high_open=True)
        self.nesterov = bool(nesterov)

    def _update(self, name, p, g, lr):
        mu, v = self.momentum, self.state["velocity"][name]
        v *= mu
        v -= lr * g                             # v = μ v − lr g
        if self.nesterov:
            p += mu * v - lr * g
        else:
            p += v


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015, Algorithm 1): per-element step sizes from running
    averages of the gradient (m) and of its square (v), with bias correction:

        m ← β₁ m + (1 − β₁) g,         m̂ = m / (1 − β₁ᵗ)
        v ← β₂ v + (1 − β₂) g²,        v̂ = v / (1 − β₂ᵗ)     t = step_count + 1
        p ← p − lr · m̂ / (√v̂ + ε)

    weight_decay = λ > 0 adds the L2 penalty's gradient to the gradient, g ← g + λ p,
    after clipping (the "coupled" L2 of the paper, not AdamW's decoupled decay).
    The buffers are saved as "m.<name>" and "v.<name>".

    backend: the model's backend (model.backend), or None.  A backend with a compiled
    update (Numba: backend/numba_optim.py) runs these lines for each tensor in one pass
    instead of eight, with the same arithmetic in the same order: the same numbers, bit
    for bit, several times faster on small tensors.
    """

    buffers = ("m", "v")

    def __init__(self, params, grads, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
                 weight_decay=0.0, *, clip_norm=None, backend=None):
        super().__init__(params, grads, lr, clip_norm=clip_norm)
        self._compiled = getattr(backend, "adam_update", None)
        self.beta1 = check_number("Adam", "beta1", beta1, 0.0, 1.0, low_open=False, high_open=True)
        self.beta2 = check_number("Adam", "beta2", beta2, 0.0, 1.0, low_open=False, high_open=True)
        self.eps = check_number("Adam", "eps", eps)
        self.weight_decay = check_number("Adam", "weight_decay", weight_decay, low_open=False)

    def _update(self, name, p, g, lr):
        beta1, beta2, t = self.beta1, self.beta2, self.step_count + 1
        m, v = self.state["m"][name], self.state["v"][name]
        if self._compiled is not None and p.flags.c_contiguous and g.flags.c_contiguous:
            self._compiled(p, g, m, v, lr=lr, beta1=beta1, beta2=beta2, eps=self.eps, t=t,
                           weight_decay=self.weight_decay)
            return
        if self.weight_decay:
            g = g + self.weight_decay * p
        m *= beta1
        m += (1 - beta1) * g                    # m = β₁ m + (1 − β₁) g
        v *= beta2
        v += (1 - beta2) * (g * g)              # v = β₂ v + (1 − β₂) g²
        # p ← p − lr · m̂ / (√v̂ + ε), m̂ = m / (1 − β₁ᵗ), v̂ = v / (1 − β₂ᵗ), computed in
        # two buffers rather than a temporary per operation (this runs for every
        # tensor at every step), in the same order, so the results are unchanged
        xp = _xp(p)
        m_hat = m / (1 - beta1 ** t)
        v_hat = v / (1 - beta2 ** t)
        denominator = xp.sqrt(v_hat, out=v_hat)
        denominator += self.eps                              # √v̂ + ε
        step = xp.multiply(lr, m_hat, out=m_hat)             # lr · m̂
        step /= denominator
        p -= step


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "adam": Adam}


def make_optimizer(name, params, grads, **kw):
    """The optimizer called `name` ("sgd", "momentum" or "adam") over params/grads;
    keyword arguments go to its constructor (lr=…, clip_norm=…, beta1=…)."""
    key = name.strip().lower() if isinstance(name, str) else name
    if key not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; known optimizers: {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[key](params, grads, **kw)


__all__ = ["Optimizer", "SGD", "Momentum", "Adam", "OPTIMIZERS", "make_optimizer"]
