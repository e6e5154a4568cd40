"""The AEVB loop: it learns, it is reproducible, it resumes bit for bit, it stops on
NaN without losing the last checkpoint, and bad checkpoints fail with a clear error."""

import os

import numpy as np
import pytest

from vae_from_scratch.models import mlp_vae
from vae_from_scratch.optim import Adam
from vae_from_scratch.train import (RUN_KEYS, CheckpointError, DivergenceError,
                                    evaluate_elbo, evaluate_log_likelihood, fit,
                                    load_checkpoint, run_epoch, save_checkpoint)


def _toy_data(seed=0, n=60):
    """Grey 4×4 images: two prototypes plus noise, clipped to [0, 1]."""
    rng = np.random.default_rng(seed)
    protos = np.array([np.eye(4), np.fliplr(np.eye(4))])[:, None] * 0.9 + 0.05
    x = protos[rng.integers(0, 2, n)] + rng.normal(0, 0.05, (n, 1, 4, 4))
    return np.clip(x, 0, 1).astype(np.float32)


def _setup(seed=0, hidden=(8,)):
    model = mlp_vae((1, 4, 4), latent_dim=2, hidden=hidden, rng=np.random.default_rng(seed))
    return model, Adam(model.params, model.grads, lr=1e-2)


def _params(model):
    return {k: v.copy() for k, v in model.params.items()}


def test_short_training_on_digits_raises_the_validation_elbo():
    pytest.importorskip("sklearn", reason="the digits come with scikit-learn (the data extra)")
    from vae_from_scratch.data import binarize_static, load_dataset
    splits = load_dataset("digits", rng=np.random.default_rng(0))
    x_val = binarize_static(splits.val.images, np.random.default_rng(1))
    model = mlp_vae((1, 8, 8), latent_dim=4, hidden=(64,), rng=np.random.default_rng(2))
    untrained = evaluate_elbo(model, x_val, np.random.default_rng(0))["elbo"]
    opt = Adam(model.params, model.grads, lr=2e-3)
    history = fit(model, opt, splits.train.images, x_val, epochs=8, batch_size=50,
                  rng=np.random.default_rng(3), quiet=True)
    # Measured over three seeds: untrained (no output-bias start) about −46 nats,
    # after 8 epochs about −26.
    assert history["val_elbo"][-1] > untrained + 10.0, (untrained, history["val_elbo"])
    assert history["val_elbo"][-1] > history["val_elbo"][0]
    # the IWAE estimate of log p(x) lies above the ELBO (on average, K = 20)
    log_px = evaluate_log_likelihood(model, x_val, np.random.default_rng(4), K=20)
    assert log_px > evaluate_elbo(model, x_val, np.random.default_rng(4))["elbo"]


def test_same_seed_same_run():
    x = _toy_data()
    runs = []
    for _ in range(2):
        model, opt = _setup()
        fit(model, opt, x, epochs=2, batch_size=16, rng=np.random.default_rng(5), quiet=True)
        runs.append(_params(model))
    assert all(np.array_equal(runs[0][k], runs[1][k]) for k in runs[0])


def test_fit_is_run_epoch_after_run_epoch():
    """fit's training numbers and weights are those of run_epoch called by hand with the
    same Generator: bit for bit (the shuffle, the binarization and ε, in the same order)."""
    from vae_from_scratch.schedules import linear_beta_schedule
    x, beta = _toy_data(), linear_beta_schedule(5)
    model, opt = _setup()
    history = fit(model, opt, x, epochs=3, batch_size=16, rng=np.random.default_rng(7),
                  beta=beta, quiet=True)
    by_hand, opt2 = _setup()
    rng, batches = np.random.default_rng(7), []
    for epoch in range(3):
        train, beta_now = run_epoch(by_hand, opt2, x, rng=rng, batch_size=16, beta=beta,
                                    binarize="dynamic", on_batch=lambda b, r: batches.append(b))
        assert train == {k: history[f"train_{k}"][epoch] for k in train}
        assert beta_now == history["beta"][epoch]
    assert batches == [0, 1, 2, 3] * 3                      # 60 images, batches of 16
    assert all(np.array_equal(by_hand.params[k], v) for k, v in model.params.items())


def test_resumed_run_is_bit_identical(tmp_path):
    x, x_val = _toy_data(0), (_toy_data(1, 20) > 0.5).astype(np.float32)
    model, opt = _setup()
    straight = fit(model, opt, x, x_val, epochs=4, batch_size=16, rng=np.random.default_rng(7),
                   quiet=True)
    expected = _params(model)

    ckpt = tmp_path / "run.npz"
    model, opt = _setup()
    fit(model, opt, x, x_val, epochs=2, batch_size=16, rng=np.random.default_rng(7),
        checkpoint=ckpt, quiet=True)
    # a new process: fresh model (other initial weights), fresh optimizer, another seed;
    # everything that matters comes back from the checkpoint
    model, opt = _setup(seed=99)
    resumed = fit(model, opt, x, x_val, epochs=4, batch_size=16, rng=np.random.default_rng(123),
                  checkpoint=ckpt, resume=True, quiet=True)
    for k, v in expected.items():
        assert np.array_equal(model.params[k], v), k
    assert resumed["epoch"] == [1.0, 2.0, 3.0, 4.0]
    assert resumed["train_elbo"] == straight["train_elbo"]
    assert resumed["val_elbo"] == straight["val_elbo"]
    assert opt.step_count == 4 * 4


def test_history_is_plain_data_and_callbacks_can_stop(tmp_path):
    model, opt = _setup()
    seen = []

    def stop_after_two(epoch, record, model):
        seen.append(record)
        return epoch == 2

    history = fit(model, opt, _toy_data(), epochs=10, batch_size=16, rng=np.random.default_rng(0),
                  callbacks=[stop_after_two], quiet=True)
    metrics = ("elbo", "reconstruction", "kl")
    assert list(history) == list(RUN_KEYS) + [f"{split}_{m}" for split in ("train", "val")
                                              for m in metrics]
    assert history["epoch"] == [1.0, 2.0]
    assert all(type(v) is float for k in history for v in history[k])   # plain lists of floats
    assert np.isnan(history["val_elbo"]).all()                 # no validation set: nan
    assert [r["epoch"] for r in seen] == [1, 2]


def test_quiet_prints_nothing(capsys):
    model, opt = _setup()
    fit(model, opt, _toy_data(), epochs=1, batch_size=16, rng=np.random.default_rng(0), quiet=True)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_kl_annealing_schedule_reaches_the_loop():
    from vae_from_scratch.schedules import linear_beta_schedule
    model, opt = _setup()
    history = fit(model, opt, _toy_data(), epochs=3, batch_size=20, rng=np.random.default_rng(0),
                  beta=linear_beta_schedule(6), quiet=True)
    # β is recorded at the last step of each epoch: steps 2, 5, 8 of 3 per epoch
    assert history["beta"] == [2 / 6, 5 / 6, 1.0]


def test_nan_stops_the_run_and_keeps_the_last_checkpoint(tmp_path):
    x = _toy_data()
    ckpt = tmp_path / "run.npz"
    model, opt = _setup()
    saved = {}

    def poison(epoch, record, model):                  # after epoch 1's checkpoint is written
        saved["bytes"] = ckpt.read_bytes()
        model.params["decoder.0.W"][0, 0] = np.nan     # a weight gone bad: epoch 2 diverges

    with pytest.raises(DivergenceError, match=r"epoch 2, batch 0: .*nan.*last good checkpoint"):
        fit(model, opt, x, epochs=3, batch_size=16, rng=np.random.default_rng(0),
            binarize=None, checkpoint=ckpt, callbacks=[poison], quiet=True)
    assert ckpt.read_bytes() == saved["bytes"]
    assert load_checkpoint(ckpt, _setup()[0])["epoch"] == 1


def test_divergence_before_any_checkpoint_mentions_none(tmp_path):
    model, opt = _setup()
    model.params["decoder.0.W"][0, 0] = np.nan
    with pytest.raises(DivergenceError) as info:
        fit(model, opt, _toy_data(), epochs=2, batch_size=16, rng=np.random.default_rng(0),
            checkpoint=tmp_path / "never.npz", quiet=True)
    assert "epoch 1, batch 0" in str(info.value) and "checkpoint" not in str(info.value)
    assert not (tmp_path / "never.npz").exists()


def test_nan_in_the_data_is_refused_by_the_model_in_its_terms():
    bad = _toy_data()
    bad[20] = np.nan
    model, opt = _setup()
    with pytest.raises(ValueError, match="VAE: expected finite images"):
        fit(model, opt, bad, epochs=1, batch_size=16, rng=np.random.default_rng(0),
            binarize=None, quiet=True)


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning", "ignore:invalid:RuntimeWarning")
def test_infinite_loss_is_reported_as_divergence():
    model, opt = _setup()
    model.params["decoder.0.W"][...] = np.float32(3e38)     # overflow in the decoder
    with pytest.raises(DivergenceError, match="epoch 1, batch 0"):
        fit(model, opt, _toy_data(), epochs=1, batch_size=16, rng=np.random.default_rng(0),
            quiet=True)


def test_checkpoint_roundtrip_restores_everything(tmp_path):
    model, opt = _setup()
    rng = np.random.default_rng(3)
    history = fit(model, opt, _toy_data(), epochs=2, batch_size=16, rng=rng, quiet=True)
    save_checkpoint(tmp_path / "c.npz", model, opt, rng, history, epoch=2)
    other, other_opt = _setup(seed=1)
    other_rng = np.random.default_rng(0)
    state = load_checkpoint(tmp_path / "c.npz", other, other_opt, other_rng)
    assert state["epoch"] == 2
    np.testing.assert_equal(state["history"], history)       # (nan == nan: no validation set)
    for k in model.params:
        assert np.array_equal(model.params[k], other.params[k])
    assert other_opt.step_count == opt.step_count
    assert other_rng.random() == rng.random()                 # the generator continues the same
    assert not [p for p in os.listdir(tmp_path) if p != "c.npz"]   # no temporary file left


def _one_epoch_checkpoint(path, hidden=(8,)):
    """Train one epoch and save it to `path`; returns what was saved."""
    model, opt = _setup(hidden=hidden)
    rng = np.random.default_rng(0)
    history = fit(model, opt, _toy_data(), epochs=1, batch_size=16, rng=rng, quiet=True)
    save_checkpoint(path, model, opt, rng, history, epoch=1)
    return model, opt, rng, history


def test_failed_write_leaves_the_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "c.npz"
    model, opt, rng, history = _one_epoch_checkpoint(path)
    before = path.read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(np, "savez", disk_full)
    with pytest.raises(OSError, match="No space"):
        save_checkpoint(path, model, opt, rng, history, epoch=2)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["c.npz"]


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    _one_epoch_checkpoint(tmp_path / "c.npz", hidden=(8,))
    wider, _ = _setup(hidden=(9,))
    with pytest.raises(CheckpointError, match=r"(?s)another architecture:.*encoder\.1\.W: checkpoint "
                                              r"shape \(8, 16\), model shape \(9, 16\)"):
        load_checkpoint(tmp_path / "c.npz", wider)
    gaussian = mlp_vae((1, 4, 4), latent_dim=2, hidden=(8,), likelihood="gaussian",
                       rng=np.random.default_rng(0))
    with pytest.raises(CheckpointError, match="likelihood: checkpoint 'bernoulli', model 'gaussian'"):
        load_checkpoint(tmp_path / "c.npz", gaussian)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_corrupt_checkpoint_is_refused(tmp_path, damage):
    path = tmp_path / "c.npz"
    model = _one_epoch_checkpoint(path)[0]
    data = path.read_bytes()
    path.write_bytes({"truncated": data[:len(data) // 2], "garbage": os.urandom(2000),
                      "empty": b""}[damage])
    expected = "truncated or corrupt" if damage == "truncated" else "is not a checkpoint"
    with pytest.raises(CheckpointError, match=expected) as info:
        load_checkpoint(path, model)
    assert "pickle" not in str(info.value)            # never NumPy's advice to unpickle it


def test_random_bytes_are_not_a_checkpoint_even_when_they_look_like_pickle(tmp_path):
    """NumPy's np.load treats a file that is neither .npy nor zip as a pickle, and without
    allow_pickle says to allow it; the loader must stop before that."""
    model, _ = _setup()
    for name, data in (("random.npz", np.random.default_rng(1).bytes(4096)),
                       ("pickle.npz", b"\x80\x04\x95" + bytes(100))):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(CheckpointError, match="is not a checkpoint") as info:
            load_checkpoint(tmp_path / name, model)
        assert "allow_pickle" not in str(info.value)


def test_not_a_checkpoint_and_missing_file(tmp_path):
    model, _ = _setup()
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(CheckpointError, match="not a vae_from_scratch checkpoint"):
        load_checkpoint(tmp_path / "other.npz", model)
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "nothing.npz", model)


def test_fit_rejects_bad_arguments():
    model, opt = _setup()
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        fit(model, opt, _toy_data(), epochs=1, rng=0, quiet=True)
    with pytest.raises(ValueError, match="binarize"):
        fit(model, opt, _toy_data(), epochs=1, rng=np.random.default_rng(0), binarize="static",
            quiet=True)
