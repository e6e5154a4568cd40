"""Models built from the layers: the VAE (vae.py); the thesis's dual VAE comes later."""

from .vae import VAE, conv_vae, mlp_vae

__all__ = ["VAE", "mlp_vae", "conv_vae"]
