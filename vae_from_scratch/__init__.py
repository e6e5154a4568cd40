"""vae_from_scratch: variational autoencoders written from scratch on NumPy.

Every forward and every backward pass is code you can open.  The package is built in
layers; a module imports only from its own layer or the ones above it in this list
(tests/test_layering.py checks it):

  the spine — what a student reads, in this order
    utils.py           randomness (check_rng), atomic file writes, argument checks
    backend/           the kernels: numpy_dense.py, numpy_conv.py, numpy_pool.py and
                       numpy_im2col.py (the readable reference), loops.py (the same
                       arithmetic loop by loop), numba_*.py and cupy_backend.py (fast)
    nn/                the layers on those kernels (dense, conv, pool, shape,
                       activations), Sequential, weight initialisation
    data/              digits, MNIST, the thesis's synthetic images, splits, binarizing
    gradcheck.py       central finite differences that prove each backward pass
    distributions.py   Gaussian and Bernoulli log-densities, the sampler, the KL
    schedules.py       learning-rate schedules and KL annealing: functions of the step
    objectives.py      ELBO (two gradient estimators), IWAE, log p(x)
    optim.py           SGD, momentum, Adam; clipping; checkpoints of their state
    models/            the VAE, the dual VAE, the VQ-VAE, and toy models with known answers
    train.py           the epoch loop (fit), evaluation, checkpoints

  the applications — built on the spine, never imported by it
    viz/               figures (plots.py) and the latent space (latent_space.py)
    run_folder.py      what ran in an output folder (run.json), so no run is replaced
    thesis/            the thesis's experiments (reproduction.py) and its separation
                       measures against ground truth (separation.py)
    exercises/         coursework: stubs, hints and an autograder
    apps/              the command line (cli.py) and its commands: train_command.py,
                       demo.py, bench.py; chapter_tools.py for the chapter scripts
"""

__version__ = "0.1.0"

from .backend import get_backend  # noqa: E402
from .gradcheck import gradcheck  # noqa: E402

__all__ = ["get_backend", "gradcheck", "__version__"]
