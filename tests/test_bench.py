"""The benchmark (`python -m vae_from_scratch bench`): its FLOP counter and its command line.

The counter is checked against loops that do a layer's arithmetic one multiply-add at a
time and count them (and whose results must equal the layer's own), and against the
8.23 MFLOP per image of a training step of the reference dual VAE.

No timing is asserted: speed on a shared machine is not reproducible, so the command
line tests only check that every figure is there and has a sane sign.
"""

import itertools
import json

import numpy as np
import pytest

from vae_from_scratch.apps import bench
from vae_from_scratch.backend import BackendUnavailable
from vae_from_scratch.apps.cli import main
from vae_from_scratch.models.dual_vae import DualVAE
from vae_from_scratch.models.vae import mlp_vae
from vae_from_scratch.nn import Conv2D, ConvTranspose2D, Dense

F64 = dict(dtype=np.float64)


# --- brute force: one multiply-add at a time, counted ----------------------------------

def brute_dense(x, W, dy):
    """y = x Wᵀ, dW = dyᵀ x, dx = dy W by loops; returns (y, dW, dx, multiply-adds per pass)."""
    (N, n_in), n_out = x.shape, W.shape[0]
    y, dW, dx = np.zeros((N, n_out)), np.zeros_like(W), np.zeros_like(x)
    count = 0
    for n, o, i in itertools.product(range(N), range(n_out), range(n_in)):
        y[n, o] += W[o, i] * x[n, i]
        dW[o, i] += dy[n, o] * x[n, i]
        dx[n, i] += dy[n, o] * W[o, i]
        count += 1
    return y, dW, dx, count


def brute_conv2d(x, W, stride, padding, dy):
    """Conv2D forward, dW and dx by loops over every (output position, window entry) pair
    of the zero-padded input; returns (y, dW, dx, multiply-adds per pass)."""
    N, C, H, Wd = x.shape
    F, _, k, _ = W.shape
    Ho, Wo = dy.shape[2:]
    p = padding
    xpad = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    y, dW, dxpad = np.zeros(dy.shape), np.zeros_like(W), np.zeros_like(xpad)
    count = 0
    for n, f, i, j, c, u, v in itertools.product(range(N), range(F), range(Ho), range(Wo),
                                                 range(C), range(k), range(k)):
        a, b = i * stride + u, j * stride + v
        y[n, f, i, j] += W[f, c, u, v] * xpad[n, c, a, b]
        dW[f, c, u, v] += dy[n, f, i, j] * xpad[n, c, a, b]
        dxpad[n, c, a, b] += dy[n, f, i, j] * W[f, c, u, v]
        count += 1
    return y, dW, dxpad[:, :, p:p + H, p:p + Wd], count


def brute_conv_transpose2d(x, W, stride, padding, output_padding, dy):
    """ConvTranspose2D forward, dW and dx by loops: every input value times every F × k × k
    weight, scattered into an output buffer that still has the border the layer crops;
    returns (y, dW, dx, multiply-adds per pass)."""
    N, C, H, Wd = x.shape
    _, F, k, _ = W.shape
    Ho, Wo = dy.shape[2:]
    p = padding
    # output position (i·s − p + u) sits at buffer index i·s + u
    buf_h, buf_w = max((H - 1) * stride + k, Ho + p), max((Wd - 1) * stride + k, Wo + p)
    ybuf, dybuf = np.zeros((N, F, buf_h, buf_w)), np.zeros((N, F, buf_h, buf_w))
    dybuf[:, :, p:p + Ho, p:p + Wo] = dy
    dW, dx = np.zeros_like(W), np.zeros_like(x)
    count = 0
    for n, c, i, j, f, u, v in itertools.product(range(N), range(C), range(H), range(Wd),
                                                 range(F), range(k), range(k)):
        a, b = i * stride + u, j * stride + v
        ybuf[n, f, a, b] += x[n, c, i, j] * W[c, f, u, v]
        dW[c, f, u, v] += x[n, c, i, j] * dybuf[n, f, a, b]
        dx[n, c, i, j] += W[c, f, u, v] * dybuf[n, f, a, b]
        count += 1
    return ybuf[:, :, p:p + Ho, p:p + Wo], dW, dx, count


def _check_layer(layer, x, brute, skips_input_grad):
    """The loops compute what the layer computes, and the counter charges 2 FLOP for each
    of their multiply-adds: 3 passes, or 2 when the layer skips the input gradient."""
    y = layer.forward(x)
    dy = np.random.default_rng(1).standard_normal(y.shape)
    dx = layer.backward(dy)
    y_loops, dW_loops, dx_loops, count = brute(dy)
    bias = layer.params["b"].reshape((1, -1) + (1,) * (y.ndim - 2))
    np.testing.assert_allclose(y, y_loops + bias, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.grads["W"], dW_loops, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, dx_loops, rtol=1e-12, atol=1e-12)

    assert bench.multiply_adds(layer, x.shape) == count
    assert bench.step_flops(layer, x.shape) == 2 * 3 * count
    skipped = layer.backward(dy, need_input_grad=False) is None
    assert skipped == skips_input_grad
    assert bench.step_flops(layer, x.shape, input_grad=False) == 2 * (2 if skipped else 3) * count


def test_dense_flops_match_a_brute_force_count(rng):
    layer = Dense(4, 5, rng=rng, **F64)
    x = rng.standard_normal((3, 4))
    _check_layer(layer, x, lambda dy: brute_dense(x, layer.params["W"], dy),
                 skips_input_grad=True)


@pytest.mark.parametrize("kernel, stride, padding", [(3, 2, 1), (3, 1, 0), (2, 2, 0)])
def test_conv2d_flops_match_a_brute_force_count(rng, kernel, stride, padding):
    layer = Conv2D(2, 3, kernel, stride=stride, padding=padding, rng=rng, **F64)
    x = rng.standard_normal((2, 2, 5, 7) if kernel == 3 else (2, 2, 4, 6))
    _check_layer(layer, x, lambda dy: brute_conv2d(x, layer.params["W"], stride, padding, dy),
                 skips_input_grad=True)


@pytest.mark.parametrize("kernel, stride, padding, output_padding",
                         [(4, 2, 1, (0, 0)), (3, 2, 1, (0, 1)), (3, 1, 0, (0, 0))])
def test_conv_transpose2d_flops_match_a_brute_force_count(rng, kernel, stride, padding,
                                                          output_padding):
    layer = ConvTranspose2D(3, 2, kernel, stride=stride, padding=padding,
                            output_padding=output_padding, rng=rng, **F64)
    x = rng.standard_normal((2, 3, 3, 4))
    # ConvTranspose2D computes dx even when asked not to (nn/layer.py), and is charged for it
    _check_layer(layer, x, lambda dy: brute_conv_transpose2d(
        x, layer.params["W"], stride, padding, output_padding, dy), skips_input_grad=False)


# --- the counter on whole models -------------------------------------------------------

def test_reference_dual_vae_costs_8_23_mflop_per_image():
    model = DualVAE(rng=np.random.default_rng(0))
    flop = bench.flop_per_image(model, (1, 60, 60))
    assert round(flop / 1e6, 2) == 8.23
    # linear in the batch size
    assert sum(row.flop for row in bench.layer_flops(model, (32, 1, 60, 60))) == 32 * flop


def _record_calls(model, batch):
    """Run one training step with every leaf layer's forward and backward watched:
    {name: (input shape, backward returned dx)}."""
    seen = {}
    rows = bench.layer_flops(model, batch.shape)
    for row in rows:
        layer, forward, backward = row.layer, row.layer.forward, row.layer.backward

        def watched_forward(x, _name=row.name, _forward=forward):
            seen[_name] = [tuple(x.shape), None]
            return _forward(x)

        def watched_backward(*args, _name=row.name, _backward=backward, **kwargs):
            dx = _backward(*args, **kwargs)
            seen[_name][1] = dx is not None
            return dx

        layer.forward, layer.backward = watched_forward, watched_backward
    try:
        model.loss_and_grads(batch, np.random.default_rng(0))
    finally:
        for row in rows:
            del row.layer.forward, row.layer.backward
    return rows, seen


@pytest.mark.parametrize("which", ["dual", "mlp"])
def test_counter_follows_the_shapes_and_input_gradients_of_a_real_step(which):
    """Every layer the counter lists runs, on the input shape it assumed, and is charged
    for dx exactly when its backward returns one."""
    rng = np.random.default_rng(0)
    if which == "dual":
        model, batch = DualVAE(rng=rng), np.zeros((3, 1, 60, 60), np.float32)
    else:
        model, batch = mlp_vae(rng=rng), np.zeros((3, 1, 28, 28), np.float32)
    rows, seen = _record_calls(model, batch)
    assert [row.name for row in rows] == list(seen)            # the order of the forward pass
    for row in rows:
        in_shape, returned_dx = seen[row.name]
        assert row.in_shape == in_shape, row.name
        macs = bench.multiply_adds(row.layer, row.in_shape)
        assert row.flop == 2 * macs * (3 if returned_dx else 2), row.name


# --- the command line ------------------------------------------------------------------

def test_bench_quick_runs_and_writes_json(tmp_path, capsys):
    path = tmp_path / "bench" / "result.json"
    code = main(["bench", "--quick", "--models", "dual,mlp", "--backends", "numpy",
                 "--json", str(path)])
    out = capsys.readouterr().out
    assert code == 0
    document = json.loads(path.read_text())
    records = {(r["model"], r["backend"]): r for r in document["records"]}
    assert set(records) == {("dual", "numpy"), ("mlp", "numpy")}
    for r in records.values():
        assert r["seconds_per_epoch"] > 0 and all(s > 0 for s in r["epoch_seconds"])
        assert r["images_per_second"] > 0
        assert r["gflops"] > 0 and r["matmul_gflops"] > 0 and r["percent_of_matmul"] > 0
        assert r["peak_memory_mb"] > 0 and "tracemalloc" in r["memory_measure"]
        assert r["compile_seconds"] >= 0
        assert r["layers"] and all(row["seconds"] >= 0 for row in r["layers"])
    assert records["dual", "numpy"]["images"] == 256
    assert records["mlp", "numpy"]["images"] == 512
    assert round(records["dual", "numpy"]["flop_per_image"] / 1e6, 2) == 8.23
    assert any(row["name"] == "fg_encoder.0" for row in records["dual", "numpy"]["layers"])
    for text in ("backend numpy", "GFLOP/s", "matmul", "peak MB", "compile s",
                 "where the time goes", "os.cpu_count()", "8.23 MFLOP"):
        assert text in out, text


@pytest.mark.parametrize("argv, message", [
    (["--backends", "numpy,nope"], "unknown backend 'nope'"),
    (["--models", "dual,cnn"], "unknown model(s) 'cnn'"),
])                           # --epochs 0 is the parser's: tests/test_cli_errors.py
def test_bad_names_are_clear_errors_before_anything_runs(capsys, argv, message):
    code = main(["bench", "--quick"] + argv)
    captured = capsys.readouterr()
    assert code == 2
    assert message in captured.err and captured.err.startswith("error: ")
    assert "Traceback" not in captured.err and captured.out == ""


def test_unavailable_backend_is_reported_and_the_others_run(monkeypatch, capsys):
    real = bench.get_backend

    def get_backend(name):
        if name == "numba":
            raise BackendUnavailable("no Numba in this test")
        return real(name)

    monkeypatch.setattr(bench, "get_backend", get_backend)
    code = main(["bench", "--quick", "--models", "mlp", "--backends", "numba,numpy"])
    out = capsys.readouterr().out
    assert code == 0
    assert "backend numba: not available, skipped: no Numba in this test" in out
    assert "backend numpy" in out

    code = main(["bench", "--quick", "--models", "mlp", "--backends", "numba"])
    assert code == 1 and "nothing was timed" in capsys.readouterr().out
