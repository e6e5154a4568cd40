"""vae_from_scratch: variational autoencoders written from scratch on NumPy.

Every forward and every backward pass is code you can open:
    backend/   the kernels (numpy_conv.py: convolution forward and backward, …)
    nn/        the layers built on them, and Sequential
    gradcheck  central finite differences that prove each backward pass
    distributions, objectives   densities, sampler, KL; ELBO, IWAE, log p(x) and gradients
    optim, models/, train       Adam and friends; the VAE; the AEVB loop and checkpoints
    data/, plots                digits and MNIST; figures
    experiment                  `python -m vae_from_scratch train`
"""

__version__ = "0.1.0"

from .backend import get_backend  # noqa: E402
from .gradcheck import gradcheck  # noqa: E402

__all__ = ["get_backend", "gradcheck", "__version__"]
