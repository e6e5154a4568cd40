"""The CuPy backend (backend/cupy_backend.py).

Its kernels are written once, for an array module `xp`, and run here twice:

* xp = numpy ("xp=numpy"): on every machine, against independent computations
  (loops, adjoint identities), through the layers and a training step.  Its parity
  with the NumPy reference, kernel by kernel, is in test_backend_parity.py, which
  runs the same kernels both ways ("cupy-kernels-on-numpy" and "cupy").
* xp = cupy ("xp=cupy"): the real backend, only where CuPy and a CUDA GPU work;
  elsewhere every such test is skipped with the reason `get_backend("cupy")` gives.
  The results must also stay on the device (CuPy arrays).

Last, how `build()` fails: without CuPy, with a CuPy that cannot be imported, without
a device, or when no kernel runs; stand-in `cupy` modules play each case.
"""

import builtins
import inspect
import sys
import types

import numpy as np
import pytest

import vae_from_scratch.backend as backend_package
from vae_from_scratch.backend import (KERNELS, Backend, BackendUnavailable, array_module,
                                      available_backends, get_backend, loops, to_numpy)
from vae_from_scratch.backend.cupy_backend import build, make_kernels
from vae_from_scratch.models import conv_vae
from vae_from_scratch.nn import AvgPool2D, Conv2D, ConvTranspose2D, MaxPool2D, Unpool2D
from vae_from_scratch.optim import Adam

from test_backend_parity import (CONV_EXTRA, CONVT_EXTRA, DTYPES, POOL_EXTRA, REF, TOL,  # noqa: F401
                                 check, draw, output_size)

@pytest.fixture(params=["numpy", pytest.param("cupy", marks=pytest.mark.gpu)],
                ids=["xp=numpy", "xp=cupy"])
def bk(request):
    """The CuPy backend's kernels on NumPy arrays, or the real CuPy backend."""
    if request.param == "numpy":
        return Backend(name="cupy-kernels-on-numpy", xp=np, **make_kernels(np))
    try:
        return get_backend("cupy")
    except BackendUnavailable as why:
        pytest.skip(str(why))


# --- the interface ---------------------------------------------------------------------

def test_every_kernel_with_the_reference_signature():
    kernels = make_kernels(np)
    assert tuple(kernels) == KERNELS
    for name in KERNELS:
        mine = inspect.signature(kernels[name]).parameters
        ref = inspect.signature(getattr(REF, name)).parameters
        assert list(mine) == list(ref), name
        assert [p.default for p in mine.values()] == [p.default for p in ref.values()], name


# --- against independent computations ----------------------------------------------------

@pytest.mark.parametrize("N,C,F,H,W,k,s,p", [(1, 1, 1, 5, 5, 3, 1, 0), (2, 2, 3, 7, 6, 3, 2, 1),
                                             (2, 1, 2, 5, 5, 5, 1, 2), (1, 2, 2, 7, 7, 2, 3, 0)])
def test_conv_forward_against_loops(bk, N, C, F, H, W, k, s, p):
    rng = np.random.default_rng([N, C, F, H, W, k, s, p])
    x, w, b = (draw(rng, shape, np.float64) for shape in ((N, C, H, W), (F, C, k, k), F))
    out, _ = bk.conv2d_forward(bk.asarray(x), bk.asarray(w), bk.asarray(b), s, p)
    check(bk, out, loops.conv2d_forward(x, w, b, s, p)[0], np.float64, "conv2d")
    w_t = draw(rng, (C, F, k, k), np.float64)
    op = (s - 1, 0)
    out, _ = bk.conv_transpose2d_forward(bk.asarray(x), bk.asarray(w_t), bk.asarray(b), s, p, op)
    check(bk, out, loops.conv_transpose2d_forward(x, w_t, b, s, p, op)[0], np.float64,
          "conv_transpose2d")


@pytest.mark.parametrize("N,C,H,W,k,s", [(1, 1, 4, 4, 2, 2), (2, 3, 7, 5, 3, 2),
                                         (1, 2, 6, 9, 2, 1)])
def test_pool_and_unpool_forward_against_loops(bk, N, C, H, W, k, s):
    x = draw(np.random.default_rng([N, C, H, W, k, s]), (N, C, H, W), np.float64)
    for kind in ("max", "avg"):
        out, _ = getattr(bk, f"{kind}_pool2d_forward")(bk.asarray(x), k, s)
        check(bk, out, getattr(loops, f"{kind}_pool2d_forward")(x, k, s)[0], np.float64, kind)
    out, _ = bk.unpool2d_forward(bk.asarray(x), k)
    check(bk, out, loops.unpool2d_forward(x, k)[0], np.float64, "unpool")


@pytest.mark.parametrize("N,C,F,H,W,k,s,p", [(2, 3, 2, 7, 6, 3, 2, 1), (1, 2, 3, 9, 8, 4, 3, 2),
                                             (2, 1, 2, 60, 60, 30, 30, 0),
                                             (2, 2, 2, 5, 5, 1, 2, 0)])
def test_backward_passes_are_adjoints_of_the_forward_passes(bk, N, C, F, H, W, k, s, p):
    """Without bias both convolutions are bilinear in (x, w), so for any dout
    ⟨dout, f(x, w)⟩ = ⟨dx, x⟩ = ⟨dw, w⟩; and conv2d and conv_transpose2d with one
    weight are adjoint maps: ⟨conv(x), y⟩ = ⟨x, convT(y)⟩.  Checks each backward
    against its own forward, with nothing from the reference."""
    rng = np.random.default_rng([N, C, F, H, W, k, s, p])
    x, w = draw(rng, (N, C, H, W), np.float64), draw(rng, (F, C, k, k), np.float64)
    out, cache = bk.conv2d_forward(bk.asarray(x), bk.asarray(w), bk.asarray(np.zeros(F)), s, p)
    y = draw(rng, tuple(out.shape), np.float64)
    dx, dw, _ = (to_numpy(a) for a in bk.conv2d_backward(bk.asarray(y), cache))
    lhs = np.sum(to_numpy(out) * y)
    scale = np.linalg.norm(to_numpy(out)) * np.linalg.norm(y)
    assert abs(lhs - np.sum(dx * x)) <= 1e-12 * scale
    assert abs(lhs - np.sum(dw * w)) <= 1e-12 * scale

    op = ((H + 2 * p - k) % s, (W + 2 * p - k) % s)      # back to H × W exactly
    convT_y, cache = bk.conv_transpose2d_forward(bk.asarray(y), bk.asarray(w),
                                                 bk.asarray(np.zeros(C)), s, p, op)
    assert tuple(convT_y.shape) == x.shape
    assert abs(lhs - np.sum(x * to_numpy(convT_y))) <= 1e-12 * scale
    dy, dw_t, _ = (to_numpy(a) for a in bk.conv_transpose2d_backward(bk.asarray(x), cache))
    assert abs(lhs - np.sum(dy * y)) <= 1e-12 * scale
    assert abs(lhs - np.sum(dw_t * w)) <= 1e-12 * scale


# --- the layers and a model on the backend ---------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_layers_run_on_the_backend(bk, dtype):
    """The layers only ask their backend: the same layers on bk and on the reference
    give the same outputs and gradients, and bk's stay on its device."""
    data = np.random.default_rng(3)
    x = draw(data, (2, 3, 12, 12), dtype)
    for make in (lambda b: Conv2D(3, 4, 4, stride=2, padding=1, rng=np.random.default_rng(0),
                                  backend=b, dtype=dtype),
                 lambda b: ConvTranspose2D(3, 2, 3, stride=2, padding=1, output_padding=1,
                                           rng=np.random.default_rng(0), backend=b, dtype=dtype),
                 lambda b: MaxPool2D(2, backend=b, dtype=dtype),
                 lambda b: AvgPool2D(3, backend=b, dtype=dtype),
                 lambda b: Unpool2D(2, backend=b, dtype=dtype)):
        ref, mine = make(REF), make(bk)
        y_ref, y = ref.forward(x), mine.forward(bk.asarray(x))
        check(bk, y, y_ref, dtype, f"{ref!r} forward")
        dy = draw(data, y_ref.shape, dtype)
        check(bk, mine.backward(bk.asarray(dy)), ref.backward(dy), dtype, f"{ref!r} dx")
        for name in ref.grads:
            check(bk, mine.grads[name], ref.grads[name], dtype, f"{ref!r} d{name}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_training_step_of_a_conv_vae_agrees_and_stays_on_the_device(bk, dtype):
    """Same seed and the same ε drawn on the host: the same ELBO, gradients and
    parameters after one Adam step; every parameter, gradient and optimizer buffer
    is still an array of bk's module afterwards."""
    data = np.random.default_rng(7)
    x = (data.random((4, 1, 8, 8)) < 0.4).astype(dtype)
    eps = data.standard_normal((4, 3)).astype(dtype)       # on the host: sample() moves it
    runs = {}
    for b in (REF, bk):
        model = conv_vae((1, 8, 8), latent_dim=3, channels=(3, 4), hidden=6,
                         rng=np.random.default_rng(0), backend=b, dtype=dtype)
        optimizer = Adam(model.params, model.grads, lr=1e-2)
        estimate = model.loss_and_grads(b.asarray(x), eps=eps)
        grads = {k: to_numpy(v).copy() for k, v in model.grads.items()}
        optimizer.step()
        for what, arrays in (("param", model.params), ("grad", model.grads),
                             ("Adam m", optimizer.state["m"]), ("Adam v", optimizer.state["v"])):
            for k, v in arrays.items():
                assert array_module(v) is b.xp, f"{what} {k} is a {type(v).__name__}"
        runs[b.name] = (estimate, grads, {k: to_numpy(v) for k, v in model.params.items()})
    (est_ref, grads_ref, params_ref), (est, grads, params) = runs["numpy"], runs[bk.name]
    for name in ("loss", "elbo", "reconstruction", "kl"):
        want, got = getattr(est_ref, name), getattr(est, name)
        assert abs(got - want) <= TOL[dtype] * max(1.0, abs(want)), (name, got, want)
    for k in grads_ref:
        check(REF, grads[k], grads_ref[k], dtype, f"grad {k}")
        check(REF, params[k], params_ref[k], dtype, f"param {k}")


# --- loading: why the backend cannot run ----------------------------------------------------

def _stand_in_cupy(device_count=1, kernel_error=None):
    """A module called cupy: NumPy underneath, with a `cuda.runtime.getDeviceCount` that
    returns `device_count` or raises it (an exception), and an `arange` that raises
    `kernel_error` when given."""
    module = types.ModuleType("cupy")

    def get_device_count():
        if isinstance(device_count, Exception):
            raise device_count
        return device_count

    def arange(*args, **kwargs):
        if kernel_error is not None:
            raise kernel_error
        return np.arange(*args, **kwargs)

    runtime = types.SimpleNamespace(getDeviceCount=get_device_count)
    module.cuda = types.SimpleNamespace(runtime=runtime)
    module.arange = arange
    module.__getattr__ = lambda name: getattr(np, name)       # everything else from NumPy
    return module


@pytest.fixture
def fresh_cache(monkeypatch):
    """get_backend caches the backends it loaded: start from none, restore afterwards."""
    monkeypatch.setattr(backend_package, "_CACHE", {})


def test_without_cupy_the_error_says_how_to_install_it(monkeypatch, fresh_cache):
    monkeypatch.setitem(sys.modules, "cupy", None)             # `import cupy` now fails
    with pytest.raises(BackendUnavailable, match=r'not installed.*pip install -e "\.\[gpu\]"'):
        get_backend("cupy")
    assert "cupy" not in available_backends()
    assert get_backend("auto").name != "cupy"


def test_a_cupy_that_cannot_be_imported_says_so(monkeypatch, fresh_cache):
    real_import = builtins.__import__

    def failing_import(name, *args, **kwargs):
        if name == "cupy":
            raise ImportError("libcudart.so.12: cannot open shared object file")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", failing_import)
    with pytest.raises(BackendUnavailable, match=r"installed but cannot be imported.*libcudart"
                                                 r".*pip install"):
        get_backend("cupy")


def test_without_a_driver_or_device_the_error_passes_on_cuda_s_reason(monkeypatch, fresh_cache):
    reason = RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")
    monkeypatch.setitem(sys.modules, "cupy", _stand_in_cupy(device_count=reason))
    with pytest.raises(BackendUnavailable, match="no working CUDA driver.*cudaErrorNoDevice"):
        get_backend("cupy")
    monkeypatch.setitem(sys.modules, "cupy", _stand_in_cupy(device_count=0))
    with pytest.raises(BackendUnavailable, match="sees no CUDA device"):
        build()


def test_a_device_that_cannot_run_a_kernel_is_reported(monkeypatch):
    failure = RuntimeError("CompileException: nvrtc: error: invalid value for --gpu-architecture")
    monkeypatch.setitem(sys.modules, "cupy", _stand_in_cupy(kernel_error=failure))
    with pytest.raises(BackendUnavailable, match="cannot run a kernel.*nvrtc"):
        build()


def test_build_returns_the_cupy_backend_on_the_module_it_imported(monkeypatch):
    """With a (stand-in) cupy that works, build() wires make_kernels(cupy) into a
    Backend called "cupy", whose kernels compute the reference's results."""
    stand_in = _stand_in_cupy()
    monkeypatch.setitem(sys.modules, "cupy", stand_in)
    bk = build()
    assert bk.name == "cupy" and bk.xp is stand_in
    assert all(callable(getattr(bk, name)) for name in KERNELS)
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 3, 9, 9)), rng.standard_normal((4, 3, 3, 3)), np.ones(4)
    check(REF, bk.conv2d_forward(x, w, b, 2, 1)[0], REF.conv2d_forward(x, w, b, 2, 1)[0],
          np.float64, "conv2d through build()")
