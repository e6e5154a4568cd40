"""models/base.py: a model's params and grads are its parts' own arrays, under the names
the checkpoints store ("<part>.<name>", in the order of the parts), and astype reaches
every part."""

import numpy as np
import pytest

from vae_from_scratch.models import DualVAE, mlp_vae
from vae_from_scratch.models.vq_vae import mlp_vqvae

SMALL_DUAL = dict(image_size=16, fg_kernel=4, bg_kernel=8, fg_channels=(2, 2), fg_hidden=4,
                  bg_channels=2, bg_hidden=3, dec_channels=(2, 2))


def _models():
    rng = np.random.default_rng(0)
    vae = mlp_vae((1, 4, 4), latent_dim=2, hidden=(3,), rng=rng)
    dual = DualVAE(rng=rng, decoder1="structured", likelihood1="gaussian", **SMALL_DUAL)
    vq = mlp_vqvae((1, 4, 4), hidden=(3,), rng=rng)
    return {
        "vae": (vae, [("encoder.", vae.encoder), ("decoder.", vae.decoder)]),
        "dual": (dual, [(f"{name}.", getattr(dual, attr)) for name, attr in (
            ("fg_encoder", "fg_encoder"), ("bg_encoder", "bg_encoder"),
            ("interaction", "interaction"), ("fg_decoder", "fg_decoder"),
            ("bg_decoder", "bg_decoder"), ("bg_map", "bg_map"), ("noise", "noise"))]),
        "vq": (vq, [("encoder.", vq.encoder), ("decoder.", vq.decoder), ("", vq.quantizer)]),
    }


@pytest.mark.parametrize("which", ["vae", "dual", "vq"])
def test_params_are_the_parts_arrays_under_their_checkpoint_names(which):
    model, parts = _models()[which]
    for view in ("params", "grads"):
        expected = [(prefix + k, v) for prefix, part in parts
                    for k, v in getattr(part, view).items()]
        got = list(getattr(model, view).items())
        assert [k for k, _ in got] == [k for k, _ in expected]
        assert all(a is b for (_, a), (_, b) in zip(got, expected))      # not copies
    assert model.n_params == sum(int(v.size) for v in model.params.values())
    assert model.backend is parts[0][1].backend and model.xp is np


@pytest.mark.parametrize("which", ["vae", "dual", "vq"])
def test_astype_converts_every_part(which):
    model, parts = _models()[which]
    names = list(model.params)
    assert model.astype(np.float64) is model and model.dtype == np.float64
    assert list(model.params) == names
    assert all(v.dtype == np.float64 for d in (model.params, model.grads) for v in d.values())
    assert all(part.dtype == np.float64 for _, part in parts)
