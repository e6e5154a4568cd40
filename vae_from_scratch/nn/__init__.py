"""Layers with hand-written forward and backward passes (thesis §2.6 and §2.8).

    from vae_from_scratch.nn import Sequential, Conv2D, ReLU, MaxPool2D, Flatten, Dense

Every layer has `forward(x)`, `backward(dy) -> dx`, and the dicts `params` and `grads`
(same keys, same shapes).  Find a layer's backward pass by its concept:
dense.py, conv.py, pool.py, shape.py, activations.py; the arithmetic of the window
layers is in backend/numpy_conv.py and backend/numpy_pool.py.
"""

from .activations import Identity, LeakyReLU, ReLU, Sigmoid, Softplus, Tanh
from .conv import Conv2D, ConvTranspose2D
from .dense import Dense
from .init import INITS, glorot_uniform, he_normal, he_uniform
from .layer import Layer, Parametric
from .pool import AvgPool2D, MaxPool2D, Unpool2D
from .sequential import Sequential
from .shape import Flatten, Reshape

__all__ = [
    "Parametric", "Layer", "Sequential",
    "Dense", "Conv2D", "ConvTranspose2D", "MaxPool2D", "AvgPool2D", "Unpool2D",
    "Flatten", "Reshape",
    "Identity", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softplus",
    "INITS", "glorot_uniform", "he_normal", "he_uniform",
]
