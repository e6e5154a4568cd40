"""Models built from the layers: the VAE (vae.py) and the thesis's dual VAE (dual_vae.py)."""

from .dual_vae import DualVAE
from .vae import VAE, conv_vae, mlp_vae

__all__ = ["VAE", "mlp_vae", "conv_vae", "DualVAE"]
