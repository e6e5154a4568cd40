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
from vae_from_scratch.backend import Backend, BackendUnavailable, get_backend
from vae_from_scratch.backend.cupy_backend import make_kernels
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


# --- the per-kernel table: each product alone -----------------------------------------

# The kernel sets the products run on: NumPy, Numba where it loads, and the CuPy backend's
# kernels on NumPy arrays (the GPU code, checked on every machine).
KERNEL_SETS = ["numpy", "numba", "cupy-kernels-on-numpy"]


def _backend(name):
    if name == "cupy-kernels-on-numpy":
        return Backend(name=name, xp=np, **make_kernels(np))
    try:
        return get_backend(name)
    except BackendUnavailable as why:
        pytest.skip(str(why))


PRODUCT_CASES = [   # (layer, x shape, the loops of test_check_layer's kind)
    ("dense", lambda rng: Dense(4, 5, rng=rng, **F64), (3, 4)),
    ("conv k3 s2 p1", lambda rng: Conv2D(2, 3, 3, stride=2, padding=1, rng=rng, **F64), (2, 2, 5, 7)),
    ("conv k2 s3 (stride > kernel)", lambda rng: Conv2D(2, 3, 2, stride=3, rng=rng,
                                                        allow_uncovered=True, **F64), (2, 2, 7, 6)),
    ("convT k4 s2 p1", lambda rng: ConvTranspose2D(3, 2, 4, stride=2, padding=1, rng=rng, **F64),
     (2, 3, 3, 4)),
    ("convT k3 s2 p1 op (0, 1)", lambda rng: ConvTranspose2D(3, 2, 3, stride=2, padding=1,
                                                             output_padding=(0, 1), rng=rng, **F64),
     (2, 3, 3, 4)),
]


def _brute(layer, x, dy):
    """The loops for this layer: (y without bias, dW, dx, multiply-adds per pass)."""
    W = layer.params["W"]
    if isinstance(layer, Dense):
        return brute_dense(x, W, dy)
    if isinstance(layer, Conv2D):
        return brute_conv2d(x, W, layer.stride, layer.padding, dy)
    return brute_conv_transpose2d(x, W, layer.stride, layer.padding, layer.output_padding, dy)


@pytest.mark.parametrize("backend_name", KERNEL_SETS)
@pytest.mark.parametrize("case", PRODUCT_CASES, ids=[case[0] for case in PRODUCT_CASES])
def test_each_timed_product_computes_that_product(rng, backend_name, case):
    """The functions the per-kernel table times compute the forward pass, dW and dx that
    the loops compute: the table times the products it names, on the backend's kernels."""
    backend = _backend(backend_name)
    _, build, x_shape = case
    layer = build(rng)
    layer.params["b"][...] = rng.standard_normal(layer.params["b"].shape)
    x = rng.standard_normal(x_shape)
    dy = rng.standard_normal(layer.output_shape(x.shape))
    y_loops, dW_loops, dx_loops, _ = _brute(layer, x, dy)
    products = bench.layer_products(backend, layer, x, dy)
    assert [name for name, _, _ in products] == list(bench.PRODUCTS)
    (y, _), (_, dW, _), (dx, _) = (run() for _, _, run in products)
    bias = layer.params["b"].reshape((1, -1) + (1,) * (y.ndim - 2))
    np.testing.assert_allclose(y, y_loops + bias, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dW, dW_loops, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dx, dx_loops, rtol=1e-10, atol=1e-10)


def _small_dual_vae():
    """A dual VAE small enough for the loops: 8×8 images, every layer kind of the reference."""
    return DualVAE(rng=np.random.default_rng(0), image_size=8, fg_kernel=2, bg_kernel=4,
                   fg_channels=(2, 3), fg_hidden=5, bg_channels=2, bg_hidden=3,
                   dec_channels=(3, 2), dtype=np.float64)


def test_kernel_rows_count_what_the_loops_count():
    """Every product of every convolution and Dense layer has its row (no input gradient
    where the layer sees the data); its FLOP are 2 × the multiply-adds the loops count;
    and the reported GFLOP/s are the reported FLOP over the reported seconds."""
    model, batch, images = _small_dual_vae(), (2, 1, 8, 8), 5
    rows = bench.kernel_costs(model, get_backend("numpy"), batch, images=images, matmul=100.0,
                              seed=0, sync=lambda: None, repeats=1)
    products = {}
    for row in rows:
        products.setdefault(row["name"], []).append(row["product"])
    both, three = ["forward", "weight gradient"], list(bench.PRODUCTS)
    assert products == {"fg_encoder.0": both, "fg_encoder.3": three, "fg_encoder.6": three,
                        "fg_encoder.8": three, "bg_encoder.0": both, "bg_encoder.3": three,
                        "interaction": three, "fg_decoder.0": three, "fg_decoder.3": three,
                        "fg_decoder.5": three, "bg_decoder.0": three, "bg_decoder.2": three}
    layers = {cost.name: cost for cost in bench.layer_flops(model, batch)}
    rng = np.random.default_rng(2)
    for row in rows:
        cost = layers[row["name"]]
        x = rng.standard_normal(row["in_shape"])
        dy = rng.standard_normal(cost.layer.output_shape(x.shape))
        count = _brute(cost.layer, x, dy)[3]
        assert row["flop_per_call"] == 2 * count, row
        assert row["flop_per_epoch"] == 2 * count * images / batch[0]          # 5 images
        assert row["calls_per_epoch"] == images / batch[0]
        assert row["seconds_per_call"] > 0
        assert row["seconds_per_epoch"] == pytest.approx(row["seconds_per_call"] * images / batch[0])
        assert row["gflops"] == pytest.approx(row["flop_per_call"] / row["seconds_per_call"] / 1e9)
        assert row["gflops"] == pytest.approx(row["flop_per_epoch"] / row["seconds_per_epoch"] / 1e9)
        assert row["percent_of_matmul"] == pytest.approx(row["gflops"])        # matmul = 100
    # the products of a layer add up to the FLOP the counter charges its training step
    for name, cost in layers.items():
        assert sum(r["flop_per_call"] for r in rows if r["name"] == name) == cost.flop, name


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
    for r in records.values():                  # the per-kernel table, at the batch shape
        assert r["kernels"] and r["kernel_repeats"] == bench.QUICK_KERNEL_REPEATS
        for row in r["kernels"]:
            assert row["in_shape"][0] == r["batch_size"]
            assert row["calls_per_epoch"] == r["images"] / r["batch_size"]
            assert row["gflops"] == pytest.approx(row["flop_per_call"] / row["seconds_per_call"] / 1e9)
    dual_products = {(row["name"], row["product"]) for row in records["dual", "numpy"]["kernels"]}
    assert ("fg_decoder.3", "input gradient") in dual_products
    assert ("fg_encoder.0", "input gradient") not in dual_products      # it sees the data
    for text in ("backend numpy", "GFLOP/s", "matmul", "peak MB", "compile s",
                 "where the time goes", "per kernel", "conv_transpose2d_forward",
                 "os.cpu_count()", "8.23 MFLOP"):
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
