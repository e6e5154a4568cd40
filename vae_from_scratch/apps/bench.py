"""`python -m vae_from_scratch bench`: how fast does one training epoch run, on each backend?

For each backend that loads and each model, in one process:

    1. build the model and its data with fixed seeds, move the data onto the backend once
    2. warm up: a few training steps (a JIT backend compiles its kernels here)
    3. time `--epochs` epochs (default 3) and report the median
    4. one more epoch under tracemalloc, for the peak memory
    5. one more epoch with a stopwatch around every layer, for the breakdown
    6. each product (forward, weight gradient, input gradient) of each Dense and
       convolution layer alone, at the training batch's shapes (`kernel_costs`)

and print, per backend: seconds per epoch, images per second, the achieved GFLOP/s, the
machine's own float32 matrix-multiply GFLOP/s measured in the same run, their ratio,
the peak memory, the JIT compile time (apart from the run time), which layers take
the time, and the GFLOP/s of each product (the per-kernel table).

The two models:

    dual   the reference dual VAE (docs/design.md, "Reference dual VAE"), 2000 images
           1×60×60 of the thesis data set X90, batch 32: the model the thesis trains
    mlp    the MLP VAE 784-400-20 with a Bernoulli decoder, 5000 images, batch 128: the
           standard VAE of the tutorial.  MNIST is not available offline, so the images
           are seeded random binary pixels; the speed does not depend on the pixel values
           (no layer branches on them), only on the shapes.

Counting FLOP (so that "GFLOP/s" means the same on every backend):

    - 2 FLOP per multiply-add, in Dense, Conv2D and ConvTranspose2D only;
    - per layer and training step: the forward pass, the weight gradient, and the input
      gradient where it is computed.  A layer that sees the data (the first layer of each
      encoder) is asked for no input gradient (`backward(…, need_input_grad=False)`), and
      Dense and Conv2D then skip it;
    - the three products of a layer have the same number of multiply-adds: each
      (weight, input position, output position) triple of the forward sum appears once
      in the forward pass, once in dW and once in dx;
    - as the im2col / GEMM kernels compute them: a convolution's multiply-adds with its
      zero padding count, and so do those of a transposed convolution that land in the
      border it crops;
    - pooling, activations and other elementwise work, the loss, sampling and the
      optimizer are not counted (they are cheap in FLOP, though not always in time: the
      per-layer breakdown shows it).

By this count one training step of the reference dual VAE costs 8.23 MFLOP per image.
The counter walks the model's layers and propagates the input shape through each
layer's `output_shape`; nothing is hard-coded.

Randomness comes only from numpy Generators with fixed seeds: every backend trains the
same model on the same data, so the backends are compared on identical work.
"""

import json
import os
import platform
import statistics
import sys
import time
import tracemalloc
from typing import NamedTuple

import numpy as np

from ..backend import BackendUnavailable, get_backend
from ..backend.blas_threads import get_blas_threads, set_blas_threads
from ..data.synthetic import make_synthetic
from ..models.dual_vae import DualVAE
from ..models.vae import VAE, mlp_vae
from ..nn import Conv2D, ConvTranspose2D, Dense, Sequential
from ..optim import Adam
from ..train import run_epoch
from ..utils import atomic_write

FORMAT = "vae_from_scratch.bench/1"
# The backends of docs/design.md ("Backends"), tried in this order when --backends is not
# given; one that cannot load is reported with its reason and the others go on.
DEFAULT_BACKENDS = ("numpy", "numba", "cupy")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "NUMBA_NUM_THREADS")
LEARNING_RATE = 1e-3
WARMUP_STEPS = 5             # the first compiles (JIT backends); the others are "steady"
QUICK_WARMUP_STEPS = 2
MATMUL_SIZE = 1024           # n of the n×n float32 matmuls that measure the machine
MATMUL_REPEATS = 5
TOP_LAYERS = 8               # rows of the per-layer breakdown that are printed
KERNEL_REPEATS = 7           # timed blocks per product in the per-kernel table (median)
QUICK_KERNEL_REPEATS = 3
KERNEL_BLOCK_SECONDS = 0.002  # a block repeats a product this long at least: a small Dense
                              # takes microseconds, below the noise of one clock reading


# --- the models --------------------------------------------------------------------------

def _dual_model(rng, backend):
    return DualVAE(rng=rng, backend=backend)


def _dual_data(n, rng):
    return make_synthetic("X90", n, rng=rng).images                  # (n, 1, 60, 60), binary


def _mlp_model(rng, backend):
    return mlp_vae(x_shape=(1, 28, 28), latent_dim=20, hidden=(400,), likelihood="bernoulli",
                   rng=rng, backend=backend)


def _mlp_data(n, rng):
    # Stand-in for MNIST (not available offline): the time of a step depends on the
    # shapes only, not on the pixel values.
    return (rng.random((n, 1, 28, 28)) < 0.5).astype(np.float32)


MODELS = {
    "dual": dict(build=_dual_model, data=_dual_data, images=2000, quick_images=256,
                 batch_size=32, description="reference dual VAE, X90 images 1×60×60"),
    "mlp": dict(build=_mlp_model, data=_mlp_data, images=5000, quick_images=512,
                batch_size=128, description="MLP VAE 784-400-20, Bernoulli decoder, "
                                            "random binary 28×28 images"),
}


# --- counting FLOP -----------------------------------------------------------------------

def multiply_adds(layer, in_shape):
    """Multiply-adds of one forward pass of `layer` on an input of shape `in_shape`
    (0 for layers without a matrix product: activations, pooling, reshapes)."""
    if isinstance(layer, Dense):
        # y = x Wᵀ + b: every example multiplies an (out × in) matrix with a vector
        return in_shape[0] * layer.in_features * layer.out_features
    if isinstance(layer, Conv2D):
        # every output value is a sum over a C_in × k × k window (zero padding included)
        N, F, Ho, Wo = layer.output_shape(in_shape)
        return N * F * Ho * Wo * layer.in_channels * layer.kernel_size ** 2
    if isinstance(layer, ConvTranspose2D):
        # every input value is scattered into an F × k × k block (cropped border included)
        N, C, H, W = in_shape
        return N * C * H * W * layer.out_channels * layer.kernel_size ** 2
    return 0


# Layers whose backward honours need_input_grad=False (nn/layer.py: "a layer with a costly
# input gradient (Conv2D, Dense) then skips it"); the others compute dx anyway.
_SKIPS_INPUT_GRAD = (Dense, Conv2D)


def step_flops(layer, in_shape, input_grad=True):
    """FLOP of one training step of one layer: forward + weight gradient (+ input gradient).

    2 FLOP per multiply-add; the three products have the same number of multiply-adds
    (module docstring).  input_grad=False: nothing needs dL/dx, so a layer that can
    skip it (Dense, Conv2D) does.
    """
    computes_dx = input_grad or not isinstance(layer, _SKIPS_INPUT_GRAD)
    products = 3 if computes_dx else 2
    return 2 * multiply_adds(layer, in_shape) * products


def model_parts(model, batch_shape):
    """The networks of a model as a training step runs them:
    [(name, network, input shape, sees the data)].

    An encoder sees the data: the models call its backward with need_input_grad=False.
    The decoders and the interaction layer pass their input gradient on to z.
    """
    N = batch_shape[0]
    if isinstance(model, DualVAE):
        parts = [("fg_encoder", model.fg_encoder, batch_shape, True),
                 ("bg_encoder", model.bg_encoder, batch_shape, True)]
        if any(model.interaction_on):                 # else the layer is not run at all
            parts.append(("interaction", model.interaction,
                          (N, model.latent1 + model.latent2), False))
        return parts + [("fg_decoder", model.fg_decoder, (N, model.latent1), False),
                        ("bg_decoder", model.bg_decoder, (N, model.latent2), False)]
    if isinstance(model, VAE):
        return [("encoder", model.encoder, batch_shape, True),
                ("decoder", model.decoder, (N, model.latent_dim), False)]
    raise TypeError(f"bench: do not know the parts of a {type(model).__name__}; "
                    f"expected a DualVAE or a VAE")


class LayerCost(NamedTuple):
    """One row of `layer_flops`."""
    name: str          # "<part>.<index>", e.g. "fg_encoder.0"
    layer: object      # the layer itself
    in_shape: tuple    # the shape of its input in this step
    flop: int          # FLOP of one training step of this layer


def layer_flops(model, batch_shape):
    """[LayerCost] for every layer of the model on a batch of shape `batch_shape`, in the
    order of the forward pass.

    The input shape of each layer is the output shape of the one before.  The input
    gradient is left out exactly where the code skips it: Sequential passes
    need_input_grad=False to its first layer with parameters (in `mlp_vae`, the Dense
    after the encoder's Flatten) and skips the parameter-free layers before it.
    """
    rows = []

    def walk(layer, name, in_shape, input_grad):
        if isinstance(layer, Sequential):
            shape = in_shape
            first = layer.first_layer_needing_backward(input_grad)
            for i, sub in enumerate(layer.layers):
                # the hint goes to the first layer that runs backward; the rest need dx
                shape = walk(sub, f"{name}.{i}", shape, input_grad if i <= first else True)
            return shape
        rows.append(LayerCost(name, layer, tuple(in_shape),
                              step_flops(layer, in_shape, input_grad)))
        return layer.output_shape(in_shape)

    for name, network, in_shape, sees_data in model_parts(model, tuple(batch_shape)):
        walk(network, name, in_shape, input_grad=not sees_data)
    return rows


def flop_per_image(model, image_shape):
    """FLOP of one training step per image (the count is linear in the batch size)."""
    return sum(row.flop for row in layer_flops(model, (1,) + tuple(image_shape)))


# --- measuring ---------------------------------------------------------------------------

def _synchronizer(backend):
    """A function that waits for the device.  A GPU runs kernels asynchronously, so a
    clock read right after a call would time only the launch; on the CPU it does nothing."""
    cuda = getattr(backend.xp, "cuda", None)
    if cuda is None:
        return lambda: None
    return lambda: cuda.Device().synchronize()


def _seconds(function, sync):
    """Wall-clock seconds of function(), the device included."""
    sync()
    start = time.perf_counter()
    function()
    sync()
    return time.perf_counter() - start


def matmul_gflops(backend, seed, n=MATMUL_SIZE, repeats=MATMUL_REPEATS):
    """The machine's float32 matrix-multiply speed on this backend's arrays: the median
    over `repeats` n×n products (2·n³ FLOP each, after one untimed product), in GFLOP/s.
    The BLAS (or cuBLAS) matmul is about the fastest thing the hardware does, so
    achieved / matmul says how much of it the training loop uses.  On the CPU the
    product runs on every core this process may use, whatever BLAS thread count the
    training runs with (--blas-threads 1 still compares against the whole machine)."""
    rng = np.random.default_rng(seed)
    a, b = (backend.asarray(rng.standard_normal((n, n), dtype=np.float32)) for _ in range(2))
    sync = _synchronizer(backend)
    previous = set_blas_threads(_usable_cpus()) if backend.xp is np else None
    try:
        _seconds(lambda: a @ b, sync)              # first call: library and thread start-up
        median = statistics.median(_seconds(lambda: a @ b, sync) for _ in range(repeats))
    finally:
        if previous is not None:
            set_blas_threads(previous)
    return 2 * n ** 3 / median / 1e9


def _usable_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:                         # not on Linux
        return os.cpu_count() or 1


def peak_memory_mb(epoch, backend):
    """(peak memory of one call of epoch(), in MB; what was measured).

    NumPy reports its array allocations to tracemalloc, so the traced peak is the most
    memory the epoch held at once on top of what existed before (data, weights,
    optimizer state).  CuPy allocates on the device through its memory pool; its total
    is what the pool holds from the GPU (data and weights included).
    """
    xp = backend.xp
    if hasattr(xp, "get_default_memory_pool"):
        epoch()
        return (xp.get_default_memory_pool().total_bytes() / 1e6,
                "cupy memory pool total bytes after the epoch")
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        epoch()
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return (peak / 1e6, "tracemalloc peak of the allocations made during one epoch "
                        "(not the data and weights that exist before)")


def max_rss_mb():
    """The process's resident-memory high-water mark since it started (all the runs so
    far), or None where the `resource` module does not exist (Windows)."""
    try:
        import resource
    except ImportError:
        return None
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1e6 if sys.platform == "darwin" else rss / 1e3   # bytes on macOS, else KiB


class LayerTimer:
    """A stopwatch around forward and backward of every layer, while in a `with` block.

    It replaces `layer.forward` and `layer.backward` of each leaf layer by a timed
    wrapper, set on the instance, so that Sequential (which calls `layer.forward(x)`)
    and the models call the wrapper; leaving the block deletes the wrappers and the
    class's methods are back.  The time of a wrapper includes its layer only.
    """

    def __init__(self, named_layers, sync):
        self.named_layers = list(named_layers)           # [(name, layer)]
        self.sync = sync
        self.seconds = {name: [0.0, 0.0] for name, _ in self.named_layers}   # [fwd, bwd]

    def _timed(self, method, slot, which):
        def timed(*args, **kwargs):
            self.sync()
            start = time.perf_counter()
            result = method(*args, **kwargs)
            self.sync()
            slot[which] += time.perf_counter() - start
            return result
        return timed

    def __enter__(self):
        for name, layer in self.named_layers:
            layer.forward = self._timed(layer.forward, self.seconds[name], 0)
            layer.backward = self._timed(layer.backward, self.seconds[name], 1)
        return self

    def __exit__(self, *exc):
        for _, layer in self.named_layers:
            del layer.forward, layer.backward
        return False


# --- each product of a layer, timed alone ------------------------------------------------

PRODUCTS = ("forward", "weight gradient", "input gradient")   # the order step_flops counts


def layer_products(backend, layer, x, dy):
    """The three matrix products of a Dense, Conv2D or ConvTranspose2D layer, each as a
    function that runs it alone on the backend's kernels: [(product, kernel, function)]
    in the order of PRODUCTS; each function returns its kernel's result.

    x: the layer's input, dy: dL/d(its output), arrays of `backend` with the shapes of
    the training step.  The forward pass is the layer's forward kernel.  The weight
    gradient is its backward kernel asked for no dx (with the forward's cache, made
    once outside the timing, as the training step has it).  The input gradient is the
    adjoint map, which the backend has as a forward kernel with the same weights:

        Dense            dx = dy W                          dense_forward(dy, Wᵀ, 0)
        Conv2D           dx = col2im(dy · W)                conv_transpose2d_forward(dy, W, 0)
        ConvTranspose2D  dx = im2col(dy) · W  (a conv2d)    conv2d_forward(dy, W, 0)

    ConvTranspose2D's backward kernel computes dx and dW together; as the adjoint of
    conv2d its dW is that conv2d's weight gradient with x in the place of the output
    gradient: conv2d_backward(x, cache of conv2d_forward(dy, W), need_dx=False).
    Each kernel call includes the data movement of its own (im2col, col2im, transposes,
    the bias); where the backward kernel shares some between dW and dx, both products
    pay for it here.
    """
    W, b = layer.params["W"], layer.params["b"]
    xp = backend.xp
    if isinstance(layer, Dense):
        zero = xp.zeros(W.shape[1], dtype=W.dtype)                    # (in,)
        _, cache = backend.dense_forward(x, W, b)
        return [("forward", "dense_forward", lambda: backend.dense_forward(x, W, b)),
                ("weight gradient", "dense_backward(need_dx=False)",
                 lambda: backend.dense_backward(dy, cache, need_dx=False)),
                ("input gradient", "dense_forward(dy, Wᵀ)",
                 lambda: backend.dense_forward(dy, W.T, zero))]
    s, p = layer.stride, layer.padding
    zero = xp.zeros(W.shape[1] if isinstance(layer, Conv2D) else W.shape[0], dtype=W.dtype)
    if isinstance(layer, Conv2D):
        # the output_padding that brings the transposed convolution back to x's size
        op = tuple((n + 2 * p - layer.kernel_size) % s for n in x.shape[2:])
        _, cache = backend.conv2d_forward(x, W, b, s, p)
        return [("forward", "conv2d_forward", lambda: backend.conv2d_forward(x, W, b, s, p)),
                ("weight gradient", "conv2d_backward(need_dx=False)",
                 lambda: backend.conv2d_backward(dy, cache, need_dx=False)),
                ("input gradient", "conv_transpose2d_forward(dy, W)",
                 lambda: backend.conv_transpose2d_forward(dy, W, zero, s, p, op))]
    if isinstance(layer, ConvTranspose2D):
        op = layer.output_padding
        _, adjoint_cache = backend.conv2d_forward(dy, W, zero, s, p)
        return [("forward", "conv_transpose2d_forward",
                 lambda: backend.conv_transpose2d_forward(x, W, b, s, p, op)),
                ("weight gradient", "conv2d_backward(x, need_dx=False)",
                 lambda: backend.conv2d_backward(x, adjoint_cache, need_dx=False)),
                ("input gradient", "conv2d_forward(dy, W)",
                 lambda: backend.conv2d_forward(dy, W, zero, s, p))]
    raise TypeError(f"bench: {layer!r} has no matrix product to time")


def per_call_seconds(function, sync, repeats, block_seconds=KERNEL_BLOCK_SECONDS):
    """Seconds of one call of function(): the median over `repeats` blocks of calls,
    each block as many calls as fill `block_seconds`, after two untimed calls (the
    first allocates and, on a JIT backend, may compile)."""
    function()
    once = _seconds(function, sync)
    calls = max(1, int(block_seconds / max(once, 1e-9)))

    def block():
        for _ in range(calls):
            function()
    return statistics.median(_seconds(block, sync) for _ in range(repeats)) / calls


def kernel_costs(model, backend, batch_shape, *, images, matmul, seed, sync,
                 repeats=KERNEL_REPEATS):
    """The per-kernel table: every product of every Dense and convolution layer of the
    model, timed alone at the training batch's shapes (`layer_products`).

    batch_shape: (batch size, *image shape); images: the epoch's images, so that one
    epoch makes images / batch size calls of each product (the epoch-equivalent: the
    last, smaller batch counted by its share).  A product's FLOP are the layer's
    multiply-adds × 2 (`multiply_adds`); the products a step runs are those that
    `layer_flops` charges (the input gradient only where the step computes it).
    x and dy are seeded random arrays: no kernel's speed depends on the values.
    Returns [dict], in the order of the forward pass, JSON-ready.
    """
    rng = np.random.default_rng(seed)

    def draw(shape):
        return backend.asarray(rng.standard_normal(shape, dtype=np.float32), dtype=model.dtype)

    calls_per_epoch = images / batch_shape[0]
    rows = []
    for cost in layer_flops(model, batch_shape):
        macs = multiply_adds(cost.layer, cost.in_shape)
        if not macs:
            continue
        x, dy = draw(cost.in_shape), draw(cost.layer.output_shape(cost.in_shape))
        products = layer_products(backend, cost.layer, x, dy)
        flop = 2 * macs
        epoch_flop = 2 * multiply_adds(cost.layer, (images,) + tuple(cost.in_shape[1:]))
        for product, kernel, run in products[:cost.flop // flop]:    # 3, or 2 without dx
            seconds = per_call_seconds(run, sync, repeats)
            gflops = flop / seconds / 1e9
            rows.append({"name": cost.name, "layer": repr(cost.layer), "product": product,
                         "kernel": kernel, "in_shape": list(cost.in_shape),
                         "seconds_per_call": seconds, "calls_per_epoch": calls_per_epoch,
                         "seconds_per_epoch": seconds * calls_per_epoch,
                         "flop_per_call": flop, "flop_per_epoch": epoch_flop,
                         "gflops": gflops, "percent_of_matmul": 100 * gflops / matmul})
    return rows


def _warm_up(backend, step, steps, sync):
    """Run the warm-up steps and return the JIT compile time, its source, and the first
    and the median steady step's seconds.

    A backend that compiles may say how long it took: `backend.compile_seconds`, or
    a `backend.warmup()` that compiles everything (timed here).  Otherwise the compile
    time is estimated as the first step minus a steady one (the first step also
    compiles; on NumPy this is only first-call noise).
    """
    hook = getattr(backend, "warmup", None)
    hook_seconds = _seconds(hook, sync) if callable(hook) else None
    times = [_seconds(step, sync) for _ in range(steps)]
    first = times[0]
    steady = statistics.median(times[1:]) if len(times) > 1 else first
    reported = getattr(backend, "compile_seconds", None)
    if reported is not None:
        return float(reported), "backend.compile_seconds", first, steady
    if hook_seconds is not None:
        return hook_seconds, "time of backend.warmup()", first, steady
    return max(0.0, first - steady), "first warm-up step − median steady step", first, steady


def bench_model(model_name, backend, host_x, *, epochs, warmup_steps, seed, matmul,
                kernel_repeats=KERNEL_REPEATS, batch_size=None):
    """Benchmark one model on one backend; return its record (a dict, JSON-ready).
    batch_size: None for the model's own (MODELS)."""
    spec = MODELS[model_name]
    rng = np.random.default_rng([seed, 1])          # the same weights on every backend
    model = spec["build"](rng, backend)
    optimizer = Adam(model.params, model.grads, lr=LEARNING_RATE, backend=backend)
    x = backend.asarray(host_x, dtype=model.dtype)  # onto the backend once, before timing
    n, batch_size = x.shape[0], batch_size or spec["batch_size"]
    sync = _synchronizer(backend)

    def step():
        model.loss_and_grads(x[:batch_size], rng)
        optimizer.step()

    def epoch():                                    # one epoch as train.fit runs it
        run_epoch(model, optimizer, x, rng=rng, batch_size=batch_size)

    compile_seconds, compile_measure, first_step, steady_step = _warm_up(
        backend, step, warmup_steps, sync)
    epoch_seconds = [_seconds(epoch, sync) for _ in range(epochs)]
    seconds = statistics.median(epoch_seconds)
    memory_mb, memory_measure = peak_memory_mb(lambda: (epoch(), sync()), backend)

    flops = layer_flops(model, (1,) + tuple(host_x.shape[1:]))     # per image
    flop_image = sum(row.flop for row in flops)
    gflops = flop_image * n / seconds / 1e9
    with LayerTimer(((row.name, row.layer) for row in flops), sync) as timer:
        layer_epoch = _seconds(epoch, sync)
    layers = []
    for name, layer, _, flop in flops:
        forward, backward = timer.seconds[name]
        total = forward + backward
        layers.append({"name": name, "layer": repr(layer), "forward_seconds": forward,
                       "backward_seconds": backward, "seconds": total,
                       "percent_of_epoch": 100 * total / layer_epoch,
                       "flop_per_epoch": flop * n,
                       "gflops": flop * n / total / 1e9 if flop and total > 0 else None})
    layers.sort(key=lambda row: row["seconds"], reverse=True)
    other = layer_epoch - sum(row["seconds"] for row in layers)
    kernels = kernel_costs(model, backend, (batch_size,) + tuple(host_x.shape[1:]), images=n,
                           matmul=matmul, seed=[seed, 3], sync=sync, repeats=kernel_repeats)
    return {
        "model": model_name, "backend": backend.name, "description": spec["description"],
        "images": n, "batch_size": batch_size, "image_shape": list(host_x.shape[1:]),
        "epochs": epochs, "epoch_seconds": epoch_seconds, "seconds_per_epoch": seconds,
        "images_per_second": n / seconds, "flop_per_image": flop_image, "gflops": gflops,
        "matmul_gflops": matmul, "percent_of_matmul": 100 * gflops / matmul,
        "blas_threads": get_blas_threads() if backend.xp is np else None,
        "peak_memory_mb": memory_mb, "memory_measure": memory_measure,
        "max_rss_mb": max_rss_mb(),
        "compile_seconds": compile_seconds, "compile_measure": compile_measure,
        "first_step_seconds": first_step, "steady_step_seconds": steady_step,
        "layer_epoch_seconds": layer_epoch, "layers": layers, "other_seconds": other,
        "kernel_repeats": kernel_repeats, "kernels": kernels,
    }


# --- the command -------------------------------------------------------------------------

def _names(text, what):
    """'a, b,a' -> ['a', 'b']: a comma list, lower case, without repeats."""
    names = []
    for name in str(text).split(","):
        name = name.strip().lower()
        if name and name not in names:
            names.append(name)
    if not names:
        raise ValueError(f"--{what}: expected a comma-separated list, got {text!r}")
    return names


def load_backends(names):
    """({name: Backend} of those that load, {name: reason} of those that cannot).

    An unknown name raises ValueError at once (before anything is timed).  A known
    backend that cannot run here says why (BackendUnavailable); an ImportError is
    reported the same way, so that a half-installed backend does not stop the others.
    """
    loaded, unavailable = {}, {}
    for name in names:
        try:
            backend = get_backend(name)
        except ValueError as error:
            raise ValueError(f"--backends: {error}") from None
        except (BackendUnavailable, ImportError) as error:
            unavailable[name] = str(error) or type(error).__name__
            continue
        loaded.setdefault(backend.name, backend)     # "auto" is one of the others
    return loaded, unavailable


def machine_info():
    """What the speed depends on besides the code: CPUs, thread settings, library versions."""
    info = {"platform": platform.platform(), "python": platform.python_version(),
            "numpy": np.__version__, "cpu_count": os.cpu_count()}
    if hasattr(os, "sched_getaffinity"):
        info["cpus_usable"] = len(os.sched_getaffinity(0))
    try:
        blas = np.__config__.CONFIG["Build Dependencies"]["blas"]
        info["blas"] = f"{blas['name']} {blas.get('version', '')}".strip()
    except (AttributeError, KeyError, TypeError):      # older NumPy: no CONFIG dict
        pass
    info["thread_variables"] = {var: os.environ[var] for var in THREAD_VARIABLES
                                if var in os.environ}
    return info


def _backend_info(backend):
    """A short description of the backend's array library (and its threads for Numba)."""
    xp = backend.xp
    text = f"{xp.__name__} {getattr(xp, '__version__', '')}".strip()
    numba = sys.modules.get("numba")
    if backend.name == "numba" and numba is not None:
        text += f", numba {numba.__version__} with {numba.get_num_threads()} threads"
    if xp is np and get_blas_threads() is not None:
        text += f", BLAS with {get_blas_threads()} thread{'s' * (get_blas_threads() != 1)}"
    return text


def run_bench(models="dual,mlp", backends=None, epochs=None, quick=False, json_path=None,
              seed=0, out=None, batch_size=None):
    """Run the benchmark, print the tables to `out` (default stdout), and return the
    records (one per model and backend that ran; empty if no backend loaded).
    Raises ValueError on an unknown model or backend name or a bad epoch count."""
    out = out or sys.stdout

    def say(line=""):
        print(line, file=out, flush=True)

    model_names = _names(models, "models")
    unknown = [m for m in model_names if m not in MODELS]
    if unknown:
        raise ValueError(f"--models: unknown model(s) {', '.join(map(repr, unknown))}; "
                         f"known models: {', '.join(MODELS)}")
    epochs = (1 if quick else 3) if epochs is None else epochs
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"--epochs: expected a whole number ≥ 1, got {epochs!r}")
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int)
                                   or batch_size < 1):
        raise ValueError(f"--batch-size: expected a whole number ≥ 1, got {batch_size!r}")
    asked = DEFAULT_BACKENDS if backends is None else _names(backends, "backends")
    loaded, unavailable = load_backends(asked)
    warmup_steps = QUICK_WARMUP_STEPS if quick else WARMUP_STEPS
    kernel_repeats = QUICK_KERNEL_REPEATS if quick else KERNEL_REPEATS

    info = machine_info()
    say(f"vae_from_scratch bench: one training epoch (Adam, lr {LEARNING_RATE:g}) per model "
        f"and backend{', quick' if quick else ''}")
    say(f"  timing     {warmup_steps} warm-up steps, then the median of {epochs} "
        f"epoch{'s' if epochs > 1 else ''}; then one epoch for the memory and one with a "
        f"timer around every layer; then each product of each layer alone")
    say(f"  machine    {info['platform']}, Python {info['python']}, numpy {info['numpy']}"
        + (f" ({info['blas']})" if "blas" in info else ""))
    usable = f", {info['cpus_usable']} usable by this process" if "cpus_usable" in info else ""
    settings = ", ".join(f"{k}={v}" for k, v in info["thread_variables"].items())
    say(f"  threads    os.cpu_count() = {info['cpu_count']}{usable}; "
        + (settings or f"none of {', '.join(THREAD_VARIABLES)} is set (the libraries choose)"))

    # The data, drawn once on the host: every backend trains on the same images.
    data = {}
    say("  models")
    for name in model_names:
        spec = MODELS[name]
        n = spec["quick_images"] if quick else spec["images"]
        data[name] = spec["data"](n, np.random.default_rng([seed, 0]))
        flop = flop_per_image(spec["build"](np.random.default_rng([seed, 1]), "numpy"),
                              data[name].shape[1:])
        say(f"    {name:<5} {spec['description']}; {n} images, "
            f"batch {batch_size or spec['batch_size']}; "
            f"{flop / 1e6:.2f} MFLOP per image per training step")
    if "mlp" in model_names:
        say("          (random pixels stand in for MNIST, which is not available offline; "
            "the speed does not depend on the pixel values)")

    for name, reason in unavailable.items():
        say()
        say(f"backend {name}: not available, skipped: {reason}")

    records = []
    for backend in loaded.values():
        matmul = matmul_gflops(backend, seed=[seed, 2])
        say()
        say(f"backend {backend.name} ({_backend_info(backend)}); float32 matmul "
            f"{MATMUL_SIZE}³: {matmul:.1f} GFLOP/s (median of {MATMUL_REPEATS})")
        say("  " + _RESULT_HEADER)
        mine = []
        for name in model_names:
            record = bench_model(name, backend, data[name], epochs=epochs,
                                 warmup_steps=warmup_steps, seed=seed, matmul=matmul,
                                 kernel_repeats=kernel_repeats, batch_size=batch_size)
            say("  " + _result_row(record))
            mine.append(record)
        say(f"  peak MB: {mine[0]['memory_measure']}")
        say(f"  compile s: JIT compile time, not in s/epoch ({mine[0]['compile_measure']})")
        for record in mine:
            say()
            say(_layer_table(record))
            say()
            say(_kernel_table(record))
        records += mine

    if len(loaded) > 1:
        say()
        say("all backends")
        say("  " + _RESULT_HEADER.replace("model", "model  backend"))
        for record in sorted(records, key=lambda r: (r["model"], r["seconds_per_epoch"])):
            say("  " + _result_row(record, with_backend=True))
    if not records:
        say()
        say("no backend could be loaded: nothing was timed")
    if json_path is not None:
        document = {"format": FORMAT, "quick": bool(quick), "epochs": epochs, "seed": seed,
                    "warmup_steps": warmup_steps, "machine": info,
                    "unavailable": unavailable, "records": records}
        text = json.dumps(document, indent=2, allow_nan=False) + "\n"
        atomic_write(json_path, lambda f: f.write(text.encode()))
        say()
        say(f"wrote {json_path}")
    return records


_RESULT_HEADER = (f"{'model':<6}{'s/epoch':>9}{'images/s':>10}{'GFLOP/s':>9}"
                  f"{'matmul GFLOP/s':>16}{'% of matmul':>13}{'peak MB':>9}{'compile s':>11}")


def _result_row(r, with_backend=False):
    name = f"{r['model']:<6}" + (f" {r['backend']:<8}" if with_backend else "")
    return (f"{name}{r['seconds_per_epoch']:>9.3f}{r['images_per_second']:>10.0f}"
            f"{r['gflops']:>9.2f}{r['matmul_gflops']:>16.1f}{r['percent_of_matmul']:>12.1f}%"
            f"{r['peak_memory_mb']:>9.1f}{r['compile_seconds']:>11.2f}")


def _layer_table(r, top=TOP_LAYERS):
    """The slowest layers of the timed epoch, with the rest of the epoch on one line."""
    rows = r["layers"][:top]
    rest_label = "everything else (other layers, loss, sampling, optimizer, batches)"
    width = max([len(f"{row['name']}  {row['layer']}") for row in rows] + [len(rest_label)])
    lines = [f"  where the time goes: {r['backend']}, {r['model']} (one more epoch with a "
             f"timer around every layer: {r['layer_epoch_seconds']:.3f} s; top {len(rows)} "
             f"of {len(r['layers'])} layers)",
             f"    {'layer':<{width}}{'forward s':>11}{'backward s':>12}{'total s':>9}"
             f"{'% epoch':>9}{'GFLOP/s':>9}"]
    for row in rows:
        gflops = f"{row['gflops']:.2f}" if row["gflops"] is not None else "-"
        lines.append(f"    {row['name'] + '  ' + row['layer']:<{width}}"
                     f"{row['forward_seconds']:>11.3f}{row['backward_seconds']:>12.3f}"
                     f"{row['seconds']:>9.3f}{row['percent_of_epoch']:>8.1f}%{gflops:>9}")
    rest = r["layer_epoch_seconds"] - sum(row["seconds"] for row in rows)
    lines.append(f"    {rest_label:<{width}}"
                 f"{'':>23}{rest:>9.3f}{100 * rest / r['layer_epoch_seconds']:>8.1f}%")
    return "\n".join(lines)


def _kernel_table(r):
    """Every product of every Dense and convolution layer, timed alone, in the order of
    the forward pass; then their sum beside the same layers' time in the timed epoch."""
    rows = r["kernels"]
    width = max(len(f"{row['name']}  {row['layer']}") for row in rows)
    kernel_width = max(len(row["kernel"]) for row in rows)
    lines = [f"  per kernel: {r['backend']}, {r['model']} (each product of each layer alone on "
             f"the backend's kernels, batch {r['batch_size']}, median of {r['kernel_repeats']} "
             f"blocks; an epoch makes {rows[0]['calls_per_epoch']:g} calls of each)",
             f"    {'layer':<{width}}  {'product':<17}{'kernel':<{kernel_width}}{'ms/call':>9}"
             f"{'s/epoch':>9}{'MFLOP/call':>12}{'GFLOP/s':>9}{'% of matmul':>13}"]
    previous = None
    for row in rows:
        label = f"{row['name']}  {row['layer']}" if row["name"] != previous else ""
        previous = row["name"]
        lines.append(f"    {label:<{width}}  {row['product']:<17}{row['kernel']:<{kernel_width}}"
                     f"{1e3 * row['seconds_per_call']:>9.3f}{row['seconds_per_epoch']:>9.3f}"
                     f"{row['flop_per_call'] / 1e6:>12.3f}{row['gflops']:>9.2f}"
                     f"{row['percent_of_matmul']:>12.1f}%")
    seconds = sum(row["seconds_per_epoch"] for row in rows)
    gflops = sum(row["flop_per_epoch"] for row in rows) / seconds / 1e9
    names = {row["name"] for row in rows}
    in_epoch = sum(layer["seconds"] for layer in r["layers"] if layer["name"] in names)
    lines.append(f"    {'all products, alone':<{width + 17 + kernel_width + 11}}{seconds:>9.3f}"
                 f"{'':>12}{gflops:>9.2f}{100 * gflops / r['matmul_gflops']:>12.1f}%")
    lines.append(f"    the same layers' forward + backward in the timed epoch: {in_epoch:.3f} s "
                 f"(no input gradient where a layer sees the data)")
    return "\n".join(lines)


__all__ = ["run_bench", "bench_model", "multiply_adds", "step_flops", "layer_flops",
           "flop_per_image", "model_parts", "LayerCost", "matmul_gflops", "LayerTimer", "MODELS",
           "DEFAULT_BACKENDS", "layer_products", "kernel_costs", "per_call_seconds", "PRODUCTS"]
