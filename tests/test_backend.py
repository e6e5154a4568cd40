"""Choosing a backend: names, the environment variable, and the kernel interface."""

import copy
import os

import numpy as np
import pytest

from vae_from_scratch.backend import KERNELS, Backend, available_backends, get_backend
from vae_from_scratch.backend.numpy_im2col import col2im, im2col
from vae_from_scratch.nn import Conv2D, Dense, ReLU


def test_numpy_backend_has_the_array_module_and_every_kernel():
    bk = get_backend("numpy")
    assert bk.xp is np and bk.name == "numpy"
    for name in KERNELS:
        assert callable(getattr(bk, name)), name


def test_get_backend_accepts_names_and_backends_and_rejects_unknown_names():
    bk = get_backend("NumPy")
    assert get_backend(bk) is bk
    assert "numpy" in available_backends()                      # the reference always loads
    with pytest.raises(ValueError, match="unknown backend 'tensorflow'.*numpy"):
        get_backend("tensorflow")
    with pytest.raises(TypeError):
        get_backend(3)


def test_environment_variable_chooses_the_default(monkeypatch):
    monkeypatch.setenv("VAE_BACKEND", "numpy")
    assert ReLU().backend.name == "numpy"
    monkeypatch.setenv("VAE_BACKEND", "no-such-backend")
    with pytest.raises(ValueError, match="no-such-backend"):
        ReLU()
    assert ReLU(backend="numpy").backend.name == "numpy"     # an explicit choice wins


def test_a_new_backend_drops_in_without_touching_the_layers(rng):
    """A backend is a record of kernels: one that counts calls works through the layers."""
    ref = get_backend("numpy")
    calls = []

    def counted(name):
        def kernel(*args, **kwargs):
            calls.append(name)
            return getattr(ref, name)(*args, **kwargs)
        return kernel

    spy = Backend(name="spy", xp=np, **{name: counted(name) for name in KERNELS})
    conv = Conv2D(1, 2, 3, rng=rng, backend=spy)
    dense = Dense(2, 1, rng=np.random.default_rng(0), backend=spy)
    y = conv.forward(np.ones((1, 1, 3, 3), dtype=np.float32))
    dense.forward(y.reshape(1, 2))
    conv.backward(np.ones_like(y))
    assert calls == ["conv2d_forward", "dense_forward", "conv2d_backward"]
    assert copy.deepcopy(conv).backend is spy                 # copies share the backend


@pytest.mark.parametrize("k,s,p,H,W", [(3, 1, 1, 5, 6), (2, 2, 0, 6, 4), (30, 30, 0, 60, 60),
                                       (3, 2, 2, 7, 5), (5, 1, 0, 5, 5)])
def test_col2im_is_the_adjoint_of_im2col(k, s, p, H, W, rng):
    """⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩, on both of col2im's loop orders (k² vs Ho·Wo)."""
    x = rng.standard_normal((2, 3, H, W))
    windows = im2col(x, k, s, p)
    c = rng.standard_normal(windows.shape)
    lhs, rhs = np.sum(windows * c), np.sum(x * col2im(c, x.shape, k, s, p))
    assert abs(lhs - rhs) <= 1e-12 * (np.abs(windows * c).sum())
    # and im2col really holds the windows: window (i, j) starts at (i·s − p, j·s − p)
    i, j = windows.shape[2] - 1, windows.shape[3] - 1
    x_pad = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    np.testing.assert_array_equal(windows[1, 2, i, j], x_pad[1, 2, i * s:i * s + k, j * s:j * s + k])


def test_blas_thread_count_is_read_and_set_at_run_time(monkeypatch, rng):
    from vae_from_scratch.backend.blas_threads import get_blas_threads, set_blas_threads
    before = get_blas_threads()
    if before is None:
        pytest.skip("NumPy's BLAS here is not an OpenBLAS whose thread count can be set")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", str(before))     # restored after the test
    a = rng.standard_normal((300, 200))
    b = rng.standard_normal((200, 100))
    try:
        assert set_blas_threads(1) == before                  # returns the previous count
        assert get_blas_threads() == 1
        assert os.environ["OPENBLAS_NUM_THREADS"] == "1"      # for Numba and child processes
        one = a @ b
        set_blas_threads(2)
        assert get_blas_threads() == 2
        two = a @ b
    finally:
        set_blas_threads(before)
    exact = np.einsum("ik,kj->ij", a, b)                       # no BLAS
    np.testing.assert_allclose(one, exact, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(two, exact, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_blas_thread_count_must_be_a_positive_int(bad):
    from vae_from_scratch.backend.blas_threads import set_blas_threads
    with pytest.raises(ValueError, match="expected a positive int"):
        set_blas_threads(bad)
