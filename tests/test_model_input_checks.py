"""What a user hands a model is checked at the model's door: a wrong shape, an empty
batch, NaN or infinite values, and values outside [0, 1] for a Bernoulli likelihood fail
with one line in the model's terms (its name, the shape it expects, what came), before
any layer runs; valid input, a batch of one included, still works.  The MNIST reader
names every missing file at once."""

import re

import numpy as np
import pytest

from vae_from_scratch.data import load_mnist
from vae_from_scratch.models import DualVAE, conv_vae, mlp_vae
from vae_from_scratch.models.vae import VAE
from vae_from_scratch.models.vq_vae import mlp_vqvae
from vae_from_scratch.nn import Dense, Flatten, Reshape, Sequential
from vae_from_scratch.objectives import iwae, log_likelihood

SMALL_DUAL = dict(image_size=16, fg_kernel=4, bg_kernel=8, fg_channels=(3, 4), fg_hidden=5,
                  bg_channels=2, bg_hidden=3, dec_channels=(3, 2))


def _rng():
    return np.random.default_rng(7)


def _vae_entry_points(model):
    return {"loss_and_grads": lambda x: model.loss_and_grads(x, rng=_rng()),
            "evaluate": lambda x: model.evaluate(x, _rng()),
            "encode": model.encode,
            "reconstruct": lambda x: model.reconstruct(x, _rng()),
            "iwae": lambda x: iwae(model, x, 3, rng=_rng()),
            "log_likelihood": lambda x: log_likelihood(model, x, 4, rng=_rng(), chunk=2)}


def _dual_entry_points(model):
    return {"loss_and_grads": lambda x: model.loss_and_grads(x, _rng()),
            "evaluate": lambda x: model.evaluate(x, _rng()),
            "encode": model.encode,
            "vae1": lambda x: model.vae1(x, _rng()),
            "vae2": lambda x: model.vae2(x, _rng()),
            "target": model.target}


def _vq_entry_points(model):
    return {"loss_and_grads": model.loss_and_grads,
            "evaluate": model.evaluate,
            "encode": model.encode,
            "reconstruct": model.reconstruct}


# name -> (build(rng), the model's name in messages, the shape of one image,
#          does it need values in [0, 1]?, its entry points)
MODELS = {
    "vae-mlp": (lambda rng: mlp_vae((1, 8, 8), 2, (6,), rng=rng, backend="numpy"),
                "VAE", (1, 8, 8), True, _vae_entry_points),
    "vae-conv": (lambda rng: conv_vae((1, 8, 8), 2, (2, 3), 6, rng=rng, backend="numpy"),
                 "VAE", (1, 8, 8), True, _vae_entry_points),
    "vae-gaussian": (lambda rng: mlp_vae((2, 4, 4), 2, (6,), "gaussian", rng=rng,
                                         decoder_var="learned", backend="numpy"),
                     "VAE", (2, 4, 4), False, _vae_entry_points),
    "dual-binary": (lambda rng: DualVAE(rng=rng, backend="numpy", **SMALL_DUAL),
                    "DualVAE", (1, 16, 16), True, _dual_entry_points),
    "dual-grey": (lambda rng: DualVAE(rng=rng, likelihood1="gaussian", backend="numpy",
                                      **SMALL_DUAL),
                  "DualVAE", (1, 16, 16), False, _dual_entry_points),
    "vqvae": (lambda rng: mlp_vqvae((1, 8, 8), 2, 2, 5, (6,), rng=rng, backend="numpy"),
              "VQVAE", (1, 8, 8), True, _vq_entry_points),
}

CASES = [(model, entry) for model, spec in MODELS.items()
         for entry in spec[4](spec[0](np.random.default_rng(0)))]


def _setup(model_name, entry, rng):
    build, who, shape, unit, entries = MODELS[model_name]
    model = build(rng)
    return model, who, shape, unit, entries(model)[entry]


def _valid(rng, n, shape):
    return rng.random((n,) + shape).astype(np.float32)


def _shape_text(shape):
    return "(N, " + ", ".join(str(d) for d in shape) + ")"


def _grads(model):
    return {k: v.copy() for k, v in model.grads.items()}


def _rejects(call, x, model, *texts):
    """call(x) raises ValueError in one line holding every text; no gradient moved."""
    before = _grads(model)
    with pytest.raises(ValueError) as info:
        call(x)
    message = str(info.value)
    assert "\n" not in message
    for text in texts:
        assert text in message, (text, message)
    for k, v in model.grads.items():           # rejected before any layer's backward ran
        np.testing.assert_array_equal(v, before[k], err_msg=k)
    return message


@pytest.mark.parametrize("model_name,entry", CASES)
def test_valid_input_works_down_to_one_image(model_name, entry, rng):
    model, _, shape, unit, call = _setup(model_name, entry, rng)
    for n in (1, 3):
        x = _valid(rng, n, shape)
        if not unit:                           # a Gaussian takes any finite value
            x = 4.0 * x - 2.0
        out = call(x)
        if hasattr(out, "shape"):              # an image batch, a target, or log p(x)
            assert out.shape[0] == n and np.all(np.isfinite(out))
        elif hasattr(out, "loss"):
            assert np.isfinite(out.loss)


@pytest.mark.parametrize("model_name,entry", CASES)
def test_wrong_shape_names_model_expected_and_actual(model_name, entry, rng):
    model, who, shape, _, call = _setup(model_name, entry, rng)
    wrong = [shape[1:],                                   # one image, no batch axis
             (2, int(np.prod(shape))),                    # flattened
             (2,) + shape[:-1] + (shape[-1] + 1,),        # one column too many
             (2, shape[0] + 1) + shape[1:]]               # one channel too many
    for bad in wrong:
        x = np.zeros(bad, dtype=np.float32)
        message = _rejects(call, x, model, _shape_text(shape), str(bad))
        assert message.startswith(f"{who}: expected images of shape")


def test_the_message_of_the_issue(rng):
    model = mlp_vae((1, 8, 8), 2, (6,), rng=rng, backend="numpy")
    with pytest.raises(ValueError, match=re.escape(
            "VAE: expected images of shape (N, 1, 8, 8), got (8, 8)")):
        model.loss_and_grads(np.zeros((8, 8), np.float32), rng=rng)
    with pytest.raises(ValueError, match=re.escape(
            "VAE: expected a batch of at least one image of shape (N, 1, 8, 8), "
            "got (0, 1, 8, 8)")):
        model.loss_and_grads(np.zeros((0, 1, 8, 8), np.float32), rng=rng)


@pytest.mark.parametrize("model_name,entry", CASES)
def test_an_empty_batch_is_refused(model_name, entry, rng):
    model, who, shape, _, call = _setup(model_name, entry, rng)
    message = _rejects(call, np.zeros((0,) + shape, dtype=np.float32), model,
                       "at least one image", _shape_text(shape), str((0,) + shape))
    assert message.startswith(f"{who}:")


# The dual VAE checks the values with the step's one transfer, after its forward pass
# (models/dual_vae.py): an infinite pixel meets the ReLU first (inf · 0), and NumPy warns.
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("model_name,entry", CASES)
def test_nan_and_infinity_are_counted_and_located(model_name, entry, rng):
    model, who, shape, _, call = _setup(model_name, entry, rng)
    n = 3
    spots = {"nan": [(2, 0) + (1,) * (len(shape) - 1), (1, 0) + (2,) * (len(shape) - 1)],
             "inf": [(2, shape[0] - 1) + (0,) * (len(shape) - 1)]}
    x = _valid(rng, n, shape)
    for where in spots["nan"]:
        x[where] = np.nan
    x[spots["inf"][0]] = -np.inf
    first = min(spots["nan"] + spots["inf"])              # in C order: the smallest index
    message = _rejects(call, x, model, f"{who}: expected finite images", "2 NaN",
                       "1 infinite", f"among the {x.size} values", f"index {first}")
    # a single +inf, alone
    x = _valid(rng, n, shape)
    x[(0,) * (len(shape) + 1)] = np.inf
    message = _rejects(call, x, model, "0 NaN", "1 infinite", f"index {(0,) * (len(shape) + 1)}")
    assert message.startswith(f"{who}:")


@pytest.mark.parametrize("model_name,entry", CASES)
def test_values_outside_0_1_only_for_a_bernoulli_likelihood(model_name, entry, rng):
    model, who, shape, unit, call = _setup(model_name, entry, rng)
    x = _valid(rng, 4, shape) * 0.5 + 0.25                # in [0.25, 0.75]
    x[1, 0, 0] = -0.125
    x[3, -1, -1] = 1.75
    if unit:
        message = _rejects(call, x, model, "values in [0, 1]", "Bernoulli",
                           "from -0.125 to 1.75")
        assert message.startswith(f"{who}: expected images with values in [0, 1]")
        # the ends themselves are fine: binary images, and soft targets such as g(x)
        call(np.round(_valid(rng, 2, shape)))
    else:
        call(x)                                           # any finite real value
        call(-3.0 * x)


def test_a_list_is_refused_in_the_models_terms(rng):
    model = mlp_vae((1, 8, 8), 2, (6,), rng=rng, backend="numpy")
    with pytest.raises(TypeError, match=r"^VAE: expected images as an array of shape "
                                        r"\(N, 1, 8, 8\), got list"):
        model.encode([[0.0] * 8] * 8)


# --- codes: the decoder-side entry points ------------------------------------------------

def test_vae_decode_checks_z(rng):
    model = conv_vae((1, 8, 8), 3, (2, 3), 6, rng=rng, backend="numpy")
    assert model.decode(rng.standard_normal((1, 3)).astype(np.float32)).mean.shape == (1, 1, 8, 8)
    for bad in [(3,), (2, 4), (2, 3, 1)]:
        with pytest.raises(ValueError, match=re.escape(
                f"VAE: expected z of shape (N, 3), got {bad}")):
            model.decode(np.zeros(bad, np.float32))
    with pytest.raises(ValueError, match=re.escape(
            "VAE: expected a batch of at least one z of shape (N, 3), got (0, 3)")):
        model.decode(np.zeros((0, 3), np.float32))
    with pytest.raises(ValueError, match=r"VAE\.sample: n must be an integer ≥ 1, got 0"):
        model.sample(0, rng)
    assert model.sample(1, rng).shape == (1, 1, 8, 8)


@pytest.mark.parametrize("decoder1", ["plain", "structured"])
def test_dual_vae_decode_checks_z1_and_z2(decoder1, rng):
    model = DualVAE(rng=rng, latent1=3, latent2=2, decoder1=decoder1, backend="numpy",
                    **SMALL_DUAL)
    z1, z2 = (rng.standard_normal((1, d)).astype(np.float32) for d in (3, 2))
    p1, p2 = model.decode(z1, z2)
    assert p1.mean.shape == (1, 1, 16, 16) and p2.mean.shape == (1, 1, 2, 2)
    fg, _ = model.decoder1_parts(z1, z2)
    assert fg.shape == (1, 1, 16, 16)
    for entry in (model.decode, model.decoder1_parts):
        with pytest.raises(ValueError, match=re.escape(
                "DualVAE: expected z1 of shape (N, 3), got (1, 2)")):
            entry(z2, z2)
        with pytest.raises(ValueError, match=re.escape(
                "DualVAE: expected z2 of shape (N, 2), got (1, 3)")):
            entry(z1, z1)
        with pytest.raises(ValueError, match=re.escape(
                "DualVAE: expected a batch of at least one z1 of shape (N, 3), got (0, 3)")):
            entry(z1[:0], z2[:0])
        with pytest.raises(ValueError, match=re.escape(
                "DualVAE: expected z1 and z2 of the same batch size, got (2, 3) and (1, 2)")):
            entry(np.concatenate([z1, z1]), z2)


def test_vq_vae_decode_indices_checks_codes(rng):
    model = mlp_vqvae((1, 8, 8), 2, 2, 5, (6,), rng=rng, backend="numpy")
    assert model.decode_indices(np.array([[0, 4]])).mean.shape == (1, 1, 8, 8)
    with pytest.raises(ValueError, match=re.escape(
            "VQVAE: expected code indices of shape (N, 2), got (3,)")):
        model.decode_indices(np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=re.escape(
            "VQVAE: expected a batch of at least one code of shape (N, 2), got (0, 2)")):
        model.decode_indices(np.zeros((0, 2), np.int64))
    for bad in ([[0, 5]], [[-1, 0]]):                   # 5 codes: 0..4; −1 would wrap
        with pytest.raises(ValueError, match=r"VQVAE: expected code indices as integers in "
                                             r"0\.\.4, got int64 values from -?\d to \d"):
            model.decode_indices(np.array(bad, np.int64))
    with pytest.raises(ValueError, match="as integers in 0..4, got float32"):
        model.decode_indices(np.zeros((1, 2), np.float32))
    with pytest.raises(ValueError, match=r"VQVAE\.sample: n must be an integer ≥ 1"):
        model.sample(0, rng)


# --- models built from parts: the image shape read off the decoder -----------------------

@pytest.mark.parametrize("learned", [False, True])
def test_a_vae_from_parts_finds_its_image_shape(learned, rng):
    k = 2 if learned else 1                # a learned variance doubles the decoder's channels
    encoder = Sequential(Flatten(backend="numpy"), Dense(2 * 3 * 5, 4, rng=rng, backend="numpy"))
    decoder = Sequential(Dense(2, k * 2 * 3 * 5, rng=rng, backend="numpy"),
                         Reshape((k * 2, 3, 5), backend="numpy"))
    model = VAE(encoder, decoder, 2, "gaussian", decoder_var="learned" if learned else 1.0)
    assert model.x_shape == (2, 3, 5)
    assert np.isfinite(model.loss_and_grads(_valid(rng, 1, (2, 3, 5)), rng=rng).loss)
    with pytest.raises(ValueError, match=re.escape(
            "VAE: expected images of shape (N, 2, 3, 5), got (4, 30)")):
        model.encode(np.zeros((4, 30), np.float32))


def test_a_vae_whose_decoder_cannot_run_says_pass_x_shape(rng):
    encoder = Sequential(Dense(6, 4, rng=rng, backend="numpy"))
    decoder = Sequential(Dense(3, 6, rng=rng, backend="numpy"))     # expects z of size 3
    with pytest.raises(ValueError, match=r"^VAE: cannot tell the shape of the images from the "
                                         r"decoder \(.*\); pass x_shape="):
        VAE(encoder, decoder, 2)
    assert VAE(encoder, decoder, 2, x_shape=(6,)).x_shape == (6,)


# --- the MNIST reader --------------------------------------------------------------------

MNIST_NAMES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


@pytest.mark.parametrize("present", [[], ["train-images-idx3-ubyte.gz"],
                                     ["t10k-labels-idx1-ubyte"]])
def test_mnist_names_every_missing_file_at_once(present, tmp_path):
    for name in present:
        (tmp_path / name).write_bytes(b"\0\0\x08\x01\0\0\0\0")     # an empty IDX vector
    have = {name.removesuffix(".gz") for name in present}
    missing = [name for name in MNIST_NAMES if name not in have]
    assert len(missing) >= 3
    with pytest.raises(FileNotFoundError) as info:
        load_mnist(tmp_path, "train")
    message = str(info.value)
    for name in missing:                                # both splits', in one message
        assert name in message, name
    for name in have:
        assert name not in message, name
    assert str(tmp_path) in message and "--download" in message and "download=True" in message
