"""Models built from the layers: the VAE (vae.py), the thesis's dual VAE (dual_vae.py), the
VQ-VAE (vq_vae.py), and small models whose answers are known in closed form (toy.py);
base.py holds the parameter plumbing the first three share."""

from .dual_vae import DualVAE
from .vae import VAE, conv_vae, mlp_vae

__all__ = ["VAE", "mlp_vae", "conv_vae", "DualVAE"]
