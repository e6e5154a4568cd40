"""The thesis's experiments: the dual VAE trained on its three synthetic data sets
(thesis ch. 3), figures 3.1–3.6, and how well it separates the foreground (the cells)
from the background (the disks), measured against the generator's ground truth.

    reproduction.py   `python -m vae_from_scratch thesis`: train, measure, draw
    separation.py     the measures: cell detection against ground truth, its AUC,
                      and probes that read each state back out of z1 and z2
"""

from .reproduction import run_thesis

__all__ = ["run_thesis"]
