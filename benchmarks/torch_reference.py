"""The project's training epoch against the same model in PyTorch, timed in one process.

    python benchmarks/torch_reference.py                 # dual and MLP VAE, 2 threads, 5 repeats
    python benchmarks/torch_reference.py --threads 1 --repeats 9 --json out.json

A check anyone can run of how far the from-scratch code is from a framework, on the
work `python -m vae_from_scratch bench` times: the same models (the reference dual VAE
of docs/design.md and the MLP VAE 784-400-20, both with Bernoulli decoders), the same
data (the bench's own generators and seeds), batch sizes, Adam with learning rate 1e-3,
float32, on the CPU.

This script is outside the package: it imports vae_from_scratch, the package never
imports it, and PyTorch is no dependency of the project (tests/test_cli_and_packaging.py
reads every import of the package to make sure).  Without PyTorch it says so in one
line and exits 1.

What it does, per model:

    1. the same model?  The PyTorch model is written out layer by layer from
       docs/design.md, and the project's weights are copied into it.  Printed side by
       side: the parameter count of every layer, and the FLOP of one training step per
       image (the project's counter, apps/bench.py, against an independent count from
       the shapes PyTorch's layers see and from whether autograd asks them for the
       input gradient); then the loss of one batch with the same weights and the same
       ε in both, which must agree to float32 round-off, and the worst gradient
       difference.  A mismatch skips that model's timing, which would compare
       different work, and the script exits 1.
    2. one untimed warm-up epoch of each (Numba compiles; PyTorch allocates).
    3. `--repeats` rounds of one epoch each, alternating in every round: every project
       backend, then PyTorch.  Alternating in one process lets both see the same
       machine load, which on a shared machine moves by tens of per cent from one
       minute to the next.  Reported: the median seconds per epoch, images/s, GFLOP/s
       (the project's FLOP count for both), the % of the machine's float32 matmul speed
       measured as the bench measures it, and the ratio project / PyTorch.

`--check` runs step 1 only (on `--images` images, at most one batch).

Threads: both use `--threads` (default 2): torch.set_num_threads, OpenBLAS through
`set_blas_threads`, and Numba's threads; `--blas-threads 1` gives the project's
products one OpenBLAS thread beside Numba's two, its fastest setting for the dual VAE
and the `thesis` command's default (PyTorch, on MKL and oneDNN, keeps `--threads`);
but on the workqueue layer below it is slower here (docs/performance.md, "One run").
Two OpenMP runtimes do not share one process well on a few cores: PyTorch is imported
first and its runtime keeps its defaults (its idle threads spin a while, which suits
it), and Numba, whose OpenMP threading layer
would bind to PyTorch's already loaded runtime and spin against OpenBLAS, runs on its
own "workqueue" layer (`--numba-threading-layer`; an epoch of the dual VAE took 8–10×
longer with the OpenMP layer here, docs/performance.md).  The bench itself runs Numba
on OpenMP, so Numba's figure here can differ from the bench's by that choice.
"""

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

try:             # first: PyTorch's OpenMP runtime reads its settings when it loads (see above)
    import torch
    from torch import nn
except ImportError:
    torch = nn = None

from vae_from_scratch.apps import bench                          # noqa: E402
from vae_from_scratch.backend import BackendUnavailable, get_backend  # noqa: E402
from vae_from_scratch.backend.blas_threads import get_blas_threads, set_blas_threads  # noqa: E402
from vae_from_scratch.optim import Adam                          # noqa: E402
from vae_from_scratch.train import run_epoch                     # noqa: E402

TORCH_VERSION = "2.13.0"
NO_TORCH = (f"torch_reference: PyTorch is not installed; install it with "
            f"`pip install torch=={TORCH_VERSION}` (a CPU build) and run this again")
LOSS_RTOL = 1e-5          # float32 sums over 3600 pixels agree to about 1e-6 relative
GRAD_RTOL = 1e-3          # of each gradient's largest entry


# --- the models in PyTorch, written out from docs/design.md --------------------------

def torch_dual_vae():
    """The reference dual VAE (docs/design.md, "Reference dual VAE") as a ModuleDict of
    its parts.  x: (N, 1, 60, 60) -> fg_encoder (N, 8) = [μ1 | log σ1²], bg_encoder
    (N, 2) = [μ2 | log σ2²]; interaction (N, 5) -> (N, 5); fg_decoder (N, 4) -> logits
    (N, 1, 60, 60); bg_decoder (N, 1) -> logits (N, 1, 2, 2).  The positions inside each
    Sequential are the project's, so that parameter names match ("fg_encoder.0.W" is
    "fg_encoder.0.weight")."""
    return nn.ModuleDict({
        "fg_encoder": nn.Sequential(
            nn.Conv2d(1, 16, 6, stride=2, padding=2), nn.ReLU(),          # 16×30×30
            nn.MaxPool2d(2),                                              # 16×15×15
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),         # 32×8×8
            nn.Flatten(), nn.Linear(2048, 64), nn.ReLU(), nn.Linear(64, 8)),
        "bg_encoder": nn.Sequential(
            nn.Conv2d(1, 4, 30, stride=30), nn.ReLU(),                    # 4×2×2
            nn.Flatten(), nn.Linear(16, 2)),
        "interaction": nn.Linear(5, 5),                                   # thesis eq. 2.35
        "fg_decoder": nn.Sequential(
            nn.Linear(4, 3600), nn.ReLU(), nn.Unflatten(1, (16, 15, 15)),
            nn.ConvTranspose2d(16, 8, 4, stride=2, padding=1), nn.ReLU(),  # 8×30×30
            nn.ConvTranspose2d(8, 1, 4, stride=2, padding=1)),            # 1×60×60
        "bg_decoder": nn.Sequential(
            nn.Linear(1, 16), nn.ReLU(), nn.Linear(16, 4), nn.Unflatten(1, (1, 2, 2))),
    })


def torch_mlp_vae():
    """The MLP VAE 784-400-20 (models/vae.py, mlp_vae): encoder x (N, 1, 28, 28) ->
    (N, 40) = [μ | log σ²], decoder z (N, 20) -> logits (N, 1, 28, 28)."""
    return nn.ModuleDict({
        "encoder": nn.Sequential(nn.Flatten(), nn.Linear(784, 400), nn.ReLU(),
                                 nn.Linear(400, 40)),
        "decoder": nn.Sequential(nn.Linear(20, 400), nn.ReLU(), nn.Linear(400, 784),
                                 nn.Unflatten(1, (1, 28, 28))),
    })


def _bernoulli_log_prob(x, logits):
    """log p(x) = Σ x·l − softplus(l) per image (thesis eq. 2.31), (N, …) -> (N,)."""
    return (x * logits - nn.functional.softplus(logits)).flatten(1).sum(1)


def _kl(mu, logvar):
    """KL(N(μ, σ²) ‖ N(0, I)) = ½ Σ (σ² + μ² − 1 − log σ²) per image, (N, D) -> (N,)."""
    return 0.5 * (logvar.exp() + mu ** 2 - 1.0 - logvar).sum(1)


def _sample(h, eps):
    """h = [μ | log σ²] (N, 2D), eps (N, D) -> (z = μ + σ ε, μ, log σ²)."""
    mu, logvar = h.chunk(2, dim=1)
    return mu + (0.5 * logvar).exp() * eps, mu, logvar


def dual_loss(m, x, eps):
    """−mean(ELBO1 + 450 · ELBO2) of a batch x (N, 1, 60, 60), eps = (ε1 (N, 4), ε2 (N, 1)):
    thesis eq. 2.36 with the weight of §3.1, g(x) = sigmoid(12 (AvgPool_30(x) − 0.5))."""
    z1, mu1, logvar1 = _sample(m["fg_encoder"](x), eps[0])
    z2, mu2, logvar2 = _sample(m["bg_encoder"](x), eps[1])
    zt = m["interaction"](torch.cat([z1, z2], dim=1))               # to both decoders
    g = torch.sigmoid(12.0 * (nn.functional.avg_pool2d(x, 30) - 0.5))
    elbo1 = _bernoulli_log_prob(x, m["fg_decoder"](zt[:, :4])) - _kl(mu1, logvar1)
    elbo2 = _bernoulli_log_prob(g, m["bg_decoder"](zt[:, 4:])) - _kl(mu2, logvar2)
    return -(elbo1 + 450.0 * elbo2).mean()


def mlp_loss(m, x, eps):
    """−mean ELBO of a batch x (N, 1, 28, 28), eps = (ε (N, 20),)."""
    z, mu, logvar = _sample(m["encoder"](x), eps[0])
    return -(_bernoulli_log_prob(x, m["decoder"](z)) - _kl(mu, logvar)).mean()


TORCH_MODELS = {   # name: (build, loss, latent sizes, the project's loss with fixed ε)
    "dual": (torch_dual_vae, dual_loss, (4, 1),
             lambda model, x, eps: model.loss_and_grads(x, eps=eps).loss),
    "mlp": (torch_mlp_vae, mlp_loss, (20,),
            lambda model, x, eps: model.loss_and_grads(x, eps=eps[0]).loss),
}


def _torch_name(project_name):
    """The project's "fg_encoder.0.W" is PyTorch's "fg_encoder.0.weight" (".b": ".bias")."""
    return project_name[:-2] + (".weight" if project_name.endswith(".W") else ".bias")


def copy_weights(project_model, torch_model):
    """Copy every parameter of the project's model into the PyTorch one ("X.W" ->
    "X.weight", "X.b" -> "X.bias"; both store Dense and convolution weights in the same
    layout).  Raises ValueError when the names or shapes differ."""
    theirs = dict(torch_model.named_parameters())
    ours = {_torch_name(name): value for name, value in project_model.params.items()}
    if set(ours) != set(theirs):
        raise ValueError(f"parameters differ: only in the project {sorted(set(ours) - set(theirs))}, "
                         f"only in PyTorch {sorted(set(theirs) - set(ours))}")
    with torch.no_grad():
        for name, value in ours.items():
            value = torch.from_numpy(np.ascontiguousarray(project_model.backend.to_numpy(value)))
            if value.shape != theirs[name].shape:
                raise ValueError(f"{name}: shape {tuple(value.shape)} in the project, "
                                 f"{tuple(theirs[name].shape)} in PyTorch")
            theirs[name].copy_(value)


# --- is it the same model? -------------------------------------------------------------

def parameter_counts(project_model, torch_model):
    """{layer: (parameters in the project, in PyTorch)}, layers by the project's names."""
    counts = {}
    for name, value in project_model.params.items():
        layer = name.rsplit(".", 1)[0]
        counts[layer] = (counts.get(layer, (0, 0))[0] + int(value.size), 0)
    for name, value in torch_model.named_parameters():
        layer = name.rsplit(".", 1)[0]
        ours, theirs = counts.get(layer, (0, 0))
        counts[layer] = (ours, theirs + value.numel())
    return counts


def torch_step_flops(torch_model, loss, x, eps):
    """{layer: FLOP of one training step on the batch x} counted from PyTorch's side.

    One forward pass with a hook on every Linear, Conv2d and ConvTranspose2d records
    the shapes it sees: multiply-adds = out·in per example (Linear), output values ×
    in_channels·k·k (Conv2d), input values × out_channels·k·k (ConvTranspose2d).  A step
    runs 3 products (forward, weight gradient, input gradient), 2 where autograd needs
    no input gradient: where the input does not require one (the data).  2 FLOP per
    multiply-add, as in apps/bench.py.
    """
    flops, hooks = {}, []

    def hook(module, inputs, output, name):
        x_in = inputs[0]
        if isinstance(module, nn.Linear):
            macs = x_in.numel() // module.in_features * module.in_features * module.out_features
        elif isinstance(module, nn.Conv2d):
            macs = output.numel() * module.in_channels * module.kernel_size[0] * module.kernel_size[1]
        else:
            macs = x_in.numel() * module.out_channels * module.kernel_size[0] * module.kernel_size[1]
        flops[name] = 2 * macs * (3 if x_in.requires_grad else 2)

    for name, module in torch_model.named_modules():
        if isinstance(module, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            hooks.append(module.register_forward_hook(
                lambda module, i, o, name=name: hook(module, i, o, name)))
    try:
        loss(torch_model, x, eps)
    finally:
        for handle in hooks:
            handle.remove()
    return flops


def same_model(name, project_model, torch_model, x, seed):
    """Check that the two models are one: parameter counts, FLOP per image, and the loss
    and gradients of batch x (N, …) with the same weights and the same ε.
    Returns a JSON-ready dict; "same" is True when everything agrees."""
    _, loss, latents, project_loss = TORCH_MODELS[name]
    copy_weights(project_model, torch_model)
    counts = parameter_counts(project_model, torch_model)
    image_shape = tuple(x.shape[1:])
    ours = {row.name: row.flop for row in bench.layer_flops(project_model, (1,) + image_shape)
            if row.flop}
    rng = np.random.default_rng(seed)
    eps = [rng.standard_normal((1, d), dtype=np.float32) for d in latents]
    theirs = torch_step_flops(torch_model, loss, torch.from_numpy(x[:1]),
                              [torch.from_numpy(e) for e in eps])

    eps = [rng.standard_normal((len(x), d), dtype=np.float32) for d in latents]
    backend = project_model.backend
    loss_project = float(project_loss(project_model, backend.asarray(x),
                                      tuple(backend.asarray(e) for e in eps)))
    torch_model.zero_grad(set_to_none=True)
    loss_torch_tensor = loss(torch_model, torch.from_numpy(x), [torch.from_numpy(e) for e in eps])
    loss_torch_tensor.backward()
    loss_torch = float(loss_torch_tensor.detach())
    grads = dict(torch_model.named_parameters())
    worst = max((float(np.abs(backend.to_numpy(g) - grads[_torch_name(p)].grad.numpy()).max()
                       / max(float(np.abs(backend.to_numpy(g)).max()), 1e-30)), p)
                for p, g in project_model.grads.items())
    relative = abs(loss_project - loss_torch) / abs(loss_project)
    same = (all(a == b for a, b in counts.values()) and ours == theirs
            and relative <= LOSS_RTOL and worst[0] <= GRAD_RTOL)
    return {"parameters": {k: list(v) for k, v in counts.items()},
            "flop_per_image": {k: [ours.get(k, 0), theirs.get(k, 0)] for k in sorted(
                set(ours) | set(theirs), key=list(counts).index)},
            "batch": len(x), "loss_project": loss_project, "loss_torch": loss_torch,
            "loss_relative_difference": relative, "loss_rtol": LOSS_RTOL,
            "worst_gradient": {"parameter": worst[1], "relative_difference": worst[0],
                               "rtol": GRAD_RTOL},
            "same": same}


# --- the two epochs ----------------------------------------------------------------------

def project_epoch(name, backend, host_x, seed):
    """A function that trains the project's model one epoch, as `bench` does: the same
    builder and seeds, the data moved onto the backend once, Adam, `run_epoch`."""
    spec = bench.MODELS[name]
    model = spec["build"](np.random.default_rng([seed, 1]), backend)
    optimizer = Adam(model.params, model.grads, lr=bench.LEARNING_RATE, backend=backend)
    x = backend.asarray(host_x, dtype=model.dtype)
    rng = np.random.default_rng([seed, 2])
    return model, lambda: run_epoch(model, optimizer, x, rng=rng, batch_size=spec["batch_size"])


def torch_epoch(name, torch_model, host_x, seed):
    """A function that trains the PyTorch model one epoch the way `run_epoch` does:
    a fresh permutation, then per minibatch (the last one smaller) one ε draw, the loss,
    its gradient, an Adam step, and the loss read back as a number (run_epoch checks
    that it is finite)."""
    _, loss, latents, _ = TORCH_MODELS[name]
    batch_size = bench.MODELS[name]["batch_size"]
    optimizer = torch.optim.Adam(torch_model.parameters(), lr=bench.LEARNING_RATE)
    x = torch.from_numpy(np.ascontiguousarray(host_x, dtype=np.float32))
    generator = torch.Generator().manual_seed(seed)

    def epoch():
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), batch_size):
            xb = x[order[start:start + batch_size]]
            eps = [torch.randn(len(xb), d, generator=generator) for d in latents]
            value = loss(torch_model, xb, eps)
            optimizer.zero_grad(set_to_none=True)
            value.backward()
            optimizer.step()
            if not np.isfinite(float(value.detach())):
                raise FloatingPointError(f"the PyTorch loss is {float(value.detach())}")
    return epoch


def _seconds(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


# --- the command -------------------------------------------------------------------------

def _set_threads(n, blas=None):
    """Both sides on n threads: PyTorch's intra-op pool, OpenBLAS (or `blas` threads), and
    Numba where loaded."""
    torch.set_num_threads(n)
    set_blas_threads(blas or n)


def _numba_threads(n):
    """Numba's threads (after its backend loaded): n, or as many as it started."""
    numba = sys.modules.get("numba")
    if numba is None:
        return None
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    return numba.get_num_threads()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="dual,mlp", help="comma list of dual, mlp")
    parser.add_argument("--backends", default="numba,numpy",
                        help="the project's backends to time (those that load)")
    parser.add_argument("--threads", type=int, default=2, help="threads for both (default 2)")
    parser.add_argument("--blas-threads", type=int, default=None,
                        help="OpenBLAS threads of the project's products (default: --threads)")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--images", type=int, default=None,
                        help="images per epoch (default: the bench's, 2000 dual, 5000 mlp)")
    parser.add_argument("--numba-threading-layer", default="workqueue",
                        help="Numba's threading layer (default workqueue; see the docstring)")
    parser.add_argument("--check", action="store_true",
                        help="only check that the models are the same; no timing")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(argv)
    if torch is None:
        print(NO_TORCH)
        return 1
    if (args.threads < 1 or args.repeats < 1 or (args.images is not None and args.images < 1)
            or (args.blas_threads is not None and args.blas_threads < 1)):
        parser.error("--threads, --blas-threads, --repeats and --images must be at least 1")
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in TORCH_MODELS]
    if unknown:
        parser.error(f"--models: unknown {', '.join(unknown)}; known: {', '.join(TORCH_MODELS)}")

    # before Numba loads (it reads the layer when imported); a value the user set is kept
    os.environ.setdefault("NUMBA_THREADING_LAYER", args.numba_threading_layer)
    _set_threads(args.threads, args.blas_threads)   # before the backends load: Numba reads it
    backends = {}
    for name in (b.strip() for b in args.backends.split(",") if b.strip()):
        try:
            backends[name] = get_backend(name)
        except BackendUnavailable as why:
            print(f"backend {name}: not available, skipped: {why}")
    if not backends:
        print("torch_reference: no project backend could be loaded")
        return 1
    numba_threads = _numba_threads(args.threads)
    matmul = bench.matmul_gflops(get_backend("numpy"), seed=[args.seed, 2])

    info = bench.machine_info()
    threads = {"torch": torch.get_num_threads(), "torch_interop": torch.get_num_interop_threads(),
               "openblas": get_blas_threads(), "numba": numba_threads,
               "numba_threading_layer": os.environ.get("NUMBA_THREADING_LAYER"),
               "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY")}
    print(f"torch_reference: one training epoch, vae_from_scratch against PyTorch, alternating "
          f"in one process; medians of {args.repeats}" + (", check only" if args.check else ""))
    print(f"  machine   {info['platform']}, {info['cpu_count']} CPUs, Python {info['python']}, "
          f"numpy {info['numpy']}" + (f" ({info['blas']})" if "blas" in info else "")
          + f", torch {torch.__version__}")
    print(f"  threads   torch.get_num_threads() = {threads['torch']} (interop "
          f"{threads['torch_interop']}); OpenBLAS {threads['openblas']}; Numba {numba_threads} "
          f"({threads['numba_threading_layer']} layer); OMP_WAIT_POLICY="
          f"{threads['OMP_WAIT_POLICY']} (set after PyTorch loaded: it reaches OpenMP in Numba only)")
    print(f"  matmul    float32 {bench.MATMUL_SIZE}³ on NumPy, every usable core: "
          f"{matmul:.1f} GFLOP/s (as the bench measures it)")
    print(f"  load      {_load()} (os.getloadavg, 1/5/15 min) at the start")

    results = {"format": "vae_from_scratch.torch_reference/1", "machine": info,
               "torch": torch.__version__, "threads": threads, "matmul_gflops": matmul,
               "repeats": args.repeats, "load_at_start": os.getloadavg(), "models": {}}
    failed = False
    for name in models:
        spec = bench.MODELS[name]
        n = spec["images"] if args.images is None else args.images
        host_x = spec["data"](n, np.random.default_rng([args.seed, 0]))
        epochs = {}
        for backend_name, backend in backends.items():
            model, epochs[backend_name] = project_epoch(name, backend, host_x, args.seed)
        flop_image = bench.flop_per_image(model, host_x.shape[1:])
        torch_model = TORCH_MODELS[name][0]()
        # the check, with the weights both start from (every backend's model has them)
        checks = same_model(name, model, torch_model, host_x[:spec["batch_size"]], seed=args.seed)
        results["models"][name] = {"images": n, "flop_per_image": flop_image, "checks": checks}
        print()
        print(f"{name}: {spec['description']}; {n} images, batch {spec['batch_size']}, Adam "
              f"lr {bench.LEARNING_RATE:g}, float32")
        _print_checks(checks)
        if not checks["same"]:
            print("  NOT THE SAME MODEL: no timing")
            failed = True
            continue
        if args.check:
            continue
        epochs["torch"] = torch_epoch(name, torch_model, host_x, args.seed)
        for epoch in epochs.values():            # warm-up: compiling, allocating
            epoch()
        seconds = {run: [] for run in epochs}
        for _ in range(args.repeats):            # project backends, then torch, in turn
            for run, epoch in epochs.items():
                seconds[run].append(_seconds(epoch))
        results["models"][name]["runs"] = _print_timing(n, flop_image, seconds, matmul)
    results["load_at_end"] = os.getloadavg()
    print()
    print(f"  load      {_load()} at the end")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
            f.write("\n")
        print(f"wrote {args.json}")
    return 1 if failed else 0


def _load():
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def _print_checks(c):
    print(f"  same model? {'yes' if c['same'] else 'NO'}: parameters and FLOP per image of "
          f"one training step, project | PyTorch")
    width = max(len(k) for k in c["parameters"])
    for layer, (ours, theirs) in c["parameters"].items():
        flop = c["flop_per_image"].get(layer, [0, 0])
        print(f"    {layer:<{width}}{ours:>10,}{theirs:>10,}   "
              f"{flop[0] / 1e6:>9.4f}{flop[1] / 1e6:>9.4f} MFLOP")
    total = [sum(v[i] for v in c["parameters"].values()) for i in (0, 1)]
    flop = [sum(v[i] for v in c["flop_per_image"].values()) for i in (0, 1)]
    print(f"    {'total':<{width}}{total[0]:>10,}{total[1]:>10,}   "
          f"{flop[0] / 1e6:>9.4f}{flop[1] / 1e6:>9.4f} MFLOP")
    g = c["worst_gradient"]
    print(f"    loss of one batch of {c['batch']}, same weights and ε: project "
          f"{c['loss_project']:.6f}, PyTorch {c['loss_torch']:.6f}, relative difference "
          f"{c['loss_relative_difference']:.1e} (tolerance {c['loss_rtol']:g}); worst gradient "
          f"{g['parameter']}: {g['relative_difference']:.1e} of its largest entry "
          f"(tolerance {g['rtol']:g})")


def _print_timing(n, flop_image, seconds, matmul):
    """Print and return {run: figures} from {run: [seconds of each timed epoch]}."""
    print(f"  {'run':<8}{'s/epoch':>9}{'images/s':>10}{'GFLOP/s':>9}{'% of matmul':>13}   epochs (s)")
    runs = {}
    for run, times in seconds.items():
        median = statistics.median(times)
        gflops = flop_image * n / median / 1e9
        runs[run] = {"epoch_seconds": times, "seconds_per_epoch": median,
                     "images_per_second": n / median, "gflops": gflops,
                     "percent_of_matmul": 100 * gflops / matmul}
        print(f"  {run:<8}{median:>9.3f}{n / median:>10.0f}{gflops:>9.2f}"
              f"{100 * gflops / matmul:>12.1f}%   " + " ".join(f"{t:.3f}" for t in times))
    for run in seconds:
        if run != "torch":
            runs[run]["ratio_to_torch"] = (runs[run]["seconds_per_epoch"]
                                           / runs["torch"]["seconds_per_epoch"])
            print(f"  {run} / torch: {runs[run]['ratio_to_torch']:.2f} (seconds per epoch, medians)")
    return runs


if __name__ == "__main__":
    sys.exit(main())
