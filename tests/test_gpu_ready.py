"""The CuPy backend ready for a GPU (docs/performance.md, "CuPy"), checked without one.

* Transfers: on a GPU every copy to the host (`float(a)`, `a.item()`, `bool(a)`,
  `to_numpy(a)`, …) waits for the device to finish all the work queued before it.  A
  training step of the dual VAE makes at most two: its metrics and loss, gathered on the
  device and copied once (with the input check's minimum and maximum), and the
  optimizer's squared gradient norms.  `DeviceArray` is a NumPy array that counts every
  such conversion as a CuPy array would make it; the CuPy backend's own kernels
  (`make_kernels`) run on the module `device`, whose every result is a DeviceArray.
* Max-pool ties: the first maximum in row-major window order, by construction, whatever
  the array module's `argmax` does with ties (a stand-in whose `argmax` keeps the last
  maximum does not change the winners).
* tools/gpu_check.sh, the script a person runs on a GPU machine: valid bash, installs the
  package with the gpu extras only, and stops every long command with `timeout`; and the
  bench's --batch-size, which it uses.
"""

import re
import shlex
import subprocess
import traceback
import types
from pathlib import Path

import numpy as np
import pytest

from vae_from_scratch.backend import (Backend, BackendUnavailable, array_module, get_backend,
                                      to_numpy)
from vae_from_scratch.apps.bench import MODELS, bench_model, run_bench
from vae_from_scratch.apps.cli import main
from vae_from_scratch.backend.cupy_backend import make_kernels
from vae_from_scratch.models import DualVAE
from vae_from_scratch.optim import Adam
from vae_from_scratch.train import run_epoch

from test_backend_parity import REF, check

ROOT = Path(__file__).resolve().parents[1]
SMALL = dict(image_size=16, fg_kernel=4, bg_kernel=8, fg_channels=(3, 4), fg_hidden=5,
             bg_channels=2, bg_hidden=3, dec_channels=(3, 2))


# --- an array module that counts its trips to the host ----------------------------------------

class DeviceArray(np.ndarray):
    """A NumPy array standing in for a CuPy array: reductions and indexing give 0-d
    arrays, not scalars (as in CuPy), and every conversion to a host value is logged in
    `DeviceArray.log` with the line of the package that asked for it."""

    log = None                  # a list while counting, else None

    def __array_wrap__(self, array, context=None, return_scalar=False):
        return np.asarray(array).view(DeviceArray)          # 0-d stays an array, as in CuPy

    def __array_function__(self, func, types, args, kwargs):
        # NumPy functions called on device arrays give device arrays, as NumPy's
        # functions on CuPy arrays do (they dispatch to CuPy): np.stack in optim.py
        result = super().__array_function__(func, types, args, kwargs)
        return tuple(map(_device, result)) if isinstance(result, tuple) else _device(result)

    def __getitem__(self, key):
        return _device(super().__getitem__(key))

    def _transfer(self, what):
        if DeviceArray.log is not None:
            frames = [f for f in traceback.extract_stack()[:-2] if "vae_from_scratch" in f.filename
                      and not f.filename.endswith(("backend/__init__.py", "models/base.py"))]
            where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
            DeviceArray.log.append(f"{what} at {where}")

    def get(self):              # what backend.to_numpy calls on a CuPy array
        self._transfer("get()")
        return np.array(self.view(np.ndarray))

    def __float__(self):
        self._transfer("float()")
        return float(self.view(np.ndarray)[()])

    def __int__(self):
        self._transfer("int()")
        return int(self.view(np.ndarray)[()])

    def __index__(self):
        self._transfer("index")
        return self.view(np.ndarray)[()].__index__()

    def __bool__(self):
        self._transfer("bool()")
        return bool(self.view(np.ndarray))

    def __format__(self, spec):
        self._transfer("format()")
        return format(self.view(np.ndarray)[()], spec)

    def item(self, *args):
        self._transfer("item()")
        return self.view(np.ndarray).item(*args)

    def tolist(self):
        self._transfer("tolist()")
        return self.view(np.ndarray).tolist()


def _device(a):
    if isinstance(a, DeviceArray) or not isinstance(a, (np.ndarray, np.generic)):
        return a
    return np.asarray(a).view(DeviceArray)


# NumPy's reductions may return scalars (ndarray.mean divides with subok=False): wrap
# them, so that the 0-d result stays a device array as it would on CuPy
for _name in ("sum", "mean", "min", "max", "argmax", "argmin", "all", "any", "prod", "std", "var"):
    def _reduction(self, *args, _method=getattr(np.ndarray, _name), **kwargs):
        return _device(_method(self, *args, **kwargs))
    setattr(DeviceArray, _name, _reduction)


class _DeviceModule(types.ModuleType):
    """NumPy, with every array a function returns made a DeviceArray."""

    def __getattr__(self, name):
        value = getattr(np, name)
        if not callable(value) or isinstance(value, type):
            return value                                    # dtypes, constants, submodules

        def on_device(*args, **kwargs):
            result = value(*args, **kwargs)
            if isinstance(result, tuple):
                return tuple(_device(r) for r in result)
            return _device(result)
        return on_device


device = _DeviceModule("device")
DEVICE = Backend(name="cupy-kernels-on-a-counting-module", xp=device, **make_kernels(device))


class counted_transfers:
    """with counted_transfers() as log: … — log lists every transfer made inside."""

    def __enter__(self):
        DeviceArray.log = []
        return DeviceArray.log

    def __exit__(self, *exc):
        DeviceArray.log = None


def test_the_counting_module_counts_every_kind_of_transfer():
    """Each way of reading a device value on the host is counted once; device work is not."""
    a = DEVICE.asarray(np.arange(6.0).reshape(2, 3))
    with counted_transfers() as log:
        b = (a * 2 + 1).sum(axis=0)                            # device work only
        parts = device.stack([a.min(), a.max(), a.mean()])
        norms = np.stack([(a * a).sum(), a.sum()])             # NumPy's own functions too
        assert all(isinstance(c, DeviceArray) for c in (b, parts, norms)) and not log
        float(a.mean())
        a.max().item()
        bool(device.isfinite(a).all())
        int(a.argmax())
        to_numpy(parts)
        to_numpy(norms)
        f"{a.sum():.1f}"
    assert [entry.split()[0] for entry in log] == ["float()", "item()", "bool()", "int()",
                                                   "get()", "get()", "format()"]


# --- transfers per training step of the dual VAE ----------------------------------------------

def _model(backend, **options):
    return DualVAE(rng=np.random.default_rng(0), backend=backend, **SMALL, **options)


def _images(n):
    return np.random.default_rng(1).random((n, 1, 16, 16)).astype(np.float32)


@pytest.mark.parametrize("options", [{}, dict(likelihood1="gaussian", decoder1="structured",
                                              latent2=2, free_bits2=0.5, decorrelate=2.0)],
                         ids=["reference", "every-option"])
@pytest.mark.parametrize("on_device", [False, True], ids=["host-data", "device-data"])
def test_a_training_step_of_the_dual_vae_copies_to_the_host_at_most_twice(options, on_device):
    """run_epoch as `fit` runs it (the loss's divergence check, the optimizer's clipping
    and finite check, the metrics summed over the epoch), three steps, the data on the
    host (binarized per batch) or already on the device; at most two transfers a step."""
    model = _model(DEVICE, **options)
    optimizer = Adam(model.params, model.grads, lr=1e-3, clip_norm=5.0)
    x = _images(12)
    binarize = "dynamic" if model.noise is None else None
    if on_device:
        x, binarize = DEVICE.asarray((x > 0.5).astype(np.float32) if binarize else x), None
    steps = 3
    with counted_transfers() as log:
        train, _ = run_epoch(model, optimizer, x, rng=np.random.default_rng(2),
                             batch_size=len(x) // steps, binarize=binarize)
    assert optimizer.step_count == steps
    assert set(train) == {"elbo1", "elbo2", "reconstruction1", "kl1", "reconstruction2", "kl2"}
    assert all(np.isfinite(v) and type(v) is float for v in train.values())
    assert 1 <= len(log) / steps <= 2, "\n".join(log)


def test_the_estimate_holds_host_numbers_equal_to_the_device_values():
    """The one transfer brings back exactly the values float() of each mean would give:
    the same model on the reference backend gives the same loss and metrics to the bit."""
    x = (_images(4) > 0.5).astype(np.float32)
    eps = (np.random.default_rng(3).standard_normal((4, 4)).astype(np.float32),
           np.random.default_rng(4).standard_normal((4, 1)).astype(np.float32))
    on_device = _model(DEVICE).loss_and_grads(DEVICE.asarray(x), eps=eps, grads=False)
    kernels_on_numpy = Backend(name="cupy-kernels-on-numpy", xp=np, **make_kernels(np))
    on_host = _model(kernels_on_numpy).loss_and_grads(x, eps=eps, grads=False)
    assert type(on_device.loss) is float and on_device.loss == on_host.loss
    assert on_device.metrics() == on_host.metrics()
    for k in ("elbo1", "elbo2"):
        assert type(on_device.per_example[k]) is np.ndarray
        np.testing.assert_array_equal(on_device.per_example[k], on_host.per_example[k])


@pytest.mark.gpu
def test_an_epoch_of_the_dual_vae_on_the_gpu_gives_host_numbers_and_stays_on_the_device():
    """The real CuPy backend: run_epoch's metrics are Python floats, the estimate's
    per-example ELBOs NumPy arrays, and every parameter and gradient a CuPy array."""
    try:
        backend = get_backend("cupy")
    except BackendUnavailable as why:
        pytest.skip(str(why))
    model = _model(backend)
    optimizer = Adam(model.params, model.grads, lr=1e-3, clip_norm=5.0)
    estimates = []
    train, _ = run_epoch(model, optimizer, _images(12), rng=np.random.default_rng(2),
                         batch_size=4, binarize="dynamic",
                         on_batch=lambda b, r: estimates.append(r))
    assert all(type(v) is float and np.isfinite(v) for v in train.values()), train
    assert all(type(r.loss) is float and type(r.per_example["elbo1"]) is np.ndarray
               for r in estimates)
    for k in model.params:
        assert array_module(model.params[k]) is backend.xp, k
        assert array_module(model.grads[k]) is backend.xp, k


# --- max-pool ties -------------------------------------------------------------------------------

def _argmax_keeps_the_last(a, axis=None, **kwargs):
    """argmax with the opposite tie rule: the last maximum along `axis`."""
    flipped = np.flip(a, axis=axis)
    return a.shape[axis] - 1 - np.argmax(flipped, axis=axis, **kwargs)


class _LastArgmaxArray(np.ndarray):
    def argmax(self, axis=None, **kwargs):
        return _argmax_keeps_the_last(np.asarray(self), axis, **kwargs)


@pytest.mark.parametrize("k,s", [(2, 2), (3, 1), (30, 30)])
def test_max_pool_ties_go_to_the_first_maximum_whatever_argmax_does(k, s):
    """The CuPy kernels pick the winner of a window as the smallest slot that holds the
    maximum, not by argmax's tie rule: with an array module whose argmax keeps the LAST
    maximum, every gradient still goes where the reference sends it."""
    module = types.ModuleType("last_argmax")
    module.__getattr__ = lambda name: getattr(np, name)
    module.argmax = _argmax_keeps_the_last
    module.asarray = lambda a, dtype=None: np.asarray(a, dtype=dtype).view(_LastArgmaxArray)
    kernels = make_kernels(module)
    rng = np.random.default_rng(k * 10 + s)
    x = (rng.random((2, 2, 60, 60)) < 0.5).astype(np.float32)
    x[0, 0] = 1.0                                               # whole windows tied
    probe = module.asarray(x[:1, :1, :k, :k])
    assert probe.argmax(axis=3).ravel()[0] == k - 1             # the stand-in really differs
    out_ref, cache_ref = REF.max_pool2d_forward(x, k, s)
    dout = rng.standard_normal(out_ref.shape).astype(np.float32)
    out, cache = kernels["max_pool2d_forward"](module.asarray(x), k, s)
    np.testing.assert_array_equal(np.asarray(out), out_ref)
    dx = kernels["max_pool2d_backward"](module.asarray(dout), cache)
    check(REF, np.asarray(dx), REF.max_pool2d_backward(dout, cache_ref), np.float32, "dx")


def test_max_pool_nan_goes_to_the_first_nan_as_in_the_reference():
    x = np.array([[[[1.0, np.nan], [np.nan, 3.0]]]])
    kernels = make_kernels(np)
    out, cache = kernels["max_pool2d_forward"](x, 2, 2)
    assert np.isnan(out).all()
    dx = kernels["max_pool2d_backward"](np.array([[[[5.0]]]]), cache)
    np.testing.assert_array_equal(dx, REF.max_pool2d_backward(
        np.array([[[[5.0]]]]), REF.max_pool2d_forward(x, 2, 2)[1]))
    np.testing.assert_array_equal(dx, [[[[0.0, 5.0], [0.0, 0.0]]]])


# --- the bench's --batch-size, which the script uses ---------------------------------------------

def test_the_bench_trains_at_the_batch_size_asked_for_else_the_models_own():
    x = MODELS["mlp"]["data"](64, np.random.default_rng(0))
    kw = dict(epochs=1, warmup_steps=1, seed=0, matmul=1.0, kernel_repeats=1)
    numpy_backend = get_backend("numpy")
    assert bench_model("mlp", numpy_backend, x, batch_size=16, **kw)["batch_size"] == 16
    assert bench_model("mlp", numpy_backend, x, **kw)["batch_size"] == MODELS["mlp"]["batch_size"]


@pytest.mark.parametrize("bad", ["0", "-3", "2.5", "x"])
def test_the_bench_refuses_a_batch_size_that_is_not_a_whole_number(bad, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--batch-size", bad])
    assert exit_info.value.code == 2
    assert f"--batch-size: expected a whole number ≥ 1, got '{bad}'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="--batch-size: expected a whole number"):
        run_bench(models="mlp", backends="numpy", batch_size=0)


# --- tools/gpu_check.sh ------------------------------------------------------------------------

SCRIPT = ROOT / "tools" / "gpu_check.sh"


def test_the_gpu_check_script_is_valid_bash():
    result = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def _commands(text):
    """The script's commands, one list of words each (continuation lines joined, comments
    and blank lines left out)."""
    text = re.sub(r"\\\n", " ", text)
    return [words for words in (shlex.split(line, comments=True) for line in text.splitlines())
            if words]


def test_the_gpu_check_script_installs_the_gpu_extras_and_nothing_else():
    """Every pip install in the script installs this package with the gpu (CUDA 12) or
    gpu-cuda13 extra and the test extra: no other package, no other index."""
    text = SCRIPT.read_text()
    installs = []
    for words in _commands(text):
        pip = [i for i, w in enumerate(words[:-1]) if w == "pip" and words[i + 1] == "install"]
        installs += [words[i + 2:] for i in pip]
    assert installs, "the script installs nothing"
    extras = set()
    for arguments in installs:
        targets = [a for a in arguments if not a.startswith("-")]
        options = [a for a in arguments if a.startswith("-")]
        assert set(options) <= {"-e", "-q", "--quiet"}, arguments
        assert len(targets) == 1, arguments
        match = re.fullmatch(r"\.\[([\w,${}-]+)\]", targets[0])
        assert match, f"installs {targets[0]!r}, not the package with its extras"
        extras.add(match.group(1))
    # the extra may come from a variable that the script sets to one of the two
    allowed = {"gpu,test", "gpu-cuda13,test"}
    for chosen in extras:
        if "$" in chosen:
            name = re.search(r"\$\{?(\w+)", chosen).group(1)
            values = set(re.findall(rf"^\s*{name}=([\w-]+)", text, re.MULTILINE))
            assert values == {"gpu", "gpu-cuda13"}, (name, values)
            expanded = {re.sub(r"\$\{?\w+\}?", v, chosen) for v in values}
            assert expanded <= allowed, expanded
        else:
            assert chosen in allowed, chosen


def test_the_gpu_check_script_runs_the_gpu_tests_and_the_bench_under_timeouts():
    """Every long command (pip, pytest, the bench) runs through `step`, which runs it
    under `timeout` and no later than DEADLINE ≤ 290 s after the start."""
    text = SCRIPT.read_text()
    commands = [" ".join(words) for words in _commands(text)]
    long_ones = [c for c in commands if re.search(r"pip install|pytest|vae_from_scratch bench", c)]
    assert all(c.startswith("step ") for c in long_ones), long_ones
    assert any("pytest -m gpu" in c for c in long_ones), long_ones
    assert any("tests/test_backend_parity.py" in c for c in long_ones), long_ones
    assert any("--backends numpy,numba,cupy --models dual,mlp" in c for c in long_ones)
    assert any("--models dual --batch-size 256" in c and "cupy" in c for c in long_ones)
    body = re.search(r"^step\(\) \{\n(.*?)^\}", text, re.MULTILINE | re.DOTALL).group(1)
    assert re.search(r'^\s*timeout .*"\$limit" "\$@"', body, re.MULTILINE), body
    assert re.search(r"limit=\$\(\(cap < left \? cap : left\)\)", body), body
    assert re.search(r"left=\$\(\(DEADLINE - SECONDS\)\)", body), body
    deadline = int(re.search(r"^DEADLINE=(\d+)", text, re.MULTILINE).group(1))
    assert deadline <= 290, deadline
