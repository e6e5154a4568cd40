"""The 8×8 handwritten digits that ship inside scikit-learn (no download).

1797 grey-scale images of the digits 0–9, from the UCI "Optical Recognition of
Handwritten Digits" data set: each pixel counts how many of 16 sub-pixels were inked,
so the values are the integers 0..16.  We divide by 16 to put them in [0, 1], the
range the Bernoulli decoders and the binarization in transforms.py expect.

scikit-learn is an optional dependency (`pip install -e ".[data]"`); it is imported
inside the function, so importing vae_from_scratch never needs it.
"""

import numpy as np

from .errors import MissingDependency

N_DIGITS = 1797          # images in the set
MAX_VALUE = 16           # the largest pixel value, a fully inked 4×4 block


def load_digits():
    """(images, labels): images (1797, 1, 8, 8) float32 in [0, 1], labels (1797,) int64 in 0..9."""
    try:
        from sklearn.datasets import load_digits as sklearn_load_digits
    except ImportError as exc:
        raise MissingDependency(
            "load_digits: the 8×8 digits come with scikit-learn, which is not installed; "
            "install it with  pip install -e \".[data]\"  (from the project folder) "
            "or  pip install scikit-learn") from exc
    bunch = sklearn_load_digits()
    images = (bunch.images.astype(np.float32) / np.float32(MAX_VALUE)).reshape(-1, 1, 8, 8)
    labels = bunch.target.astype(np.int64)
    return images, labels
