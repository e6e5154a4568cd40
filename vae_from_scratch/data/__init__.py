"""Data sets, as NCHW float32 images in [0, 1] with int64 labels.

Where each comes from
---------------------
    digits   digits.py: the 1797 8×8 digits bundled with scikit-learn (UCI optical
             digits), no download; needs `pip install -e ".[data]"`.
    mnist    mnist.py: the 70 000 28×28 MNIST digits, read from the IDX files in the folder
             data_dir or $VAE_DATA_DIR; downloaded only when you ask (download=True).
    (the thesis's synthetic X90, X50, X90_20: synthetic.py, make_synthetic(name, rng=…))

transforms.py turns grey values into binary pixels (static, dynamic, threshold);
splits.py cuts a data set into train / validation / test.

load_dataset(name, rng=…) gives any of them as Splits(train, val, test), each a
Dataset(images, labels):

    digits   a seeded split of the 1797 images: by default 70 % / 10 % / 20 %
             (1258 / 180 / 359 images); val_fraction, test_fraction change it.
    mnist    the official 10 000 test images as the test set; the validation set is carved
             at random from the official 60 000 training images, by default 10 000 of them
             (val_fraction = 1/6), leaving 50 000 for training.

Binarization: by default the images stay grey (binarize=None) and the training loop draws
binarize_dynamic(batch, rng) for each minibatch.  For a fixed, statically binarized data
set pass binarize="static" (one Bernoulli draw per image, made here from rng after the
split) or binarize="threshold" (x > 0.5).  load_for_vae(name, rng=…) gives both views at
once, as the train command and the chapters use them: grey training images, and the
validation and test images binarized once.
"""

from .digits import load_digits
from .errors import MissingDependency, check_rng
from .mnist import download_mnist, load_mnist, read_idx
from .splits import Dataset, Splits, take, train_val_test_split
from .synthetic import SYNTHETIC_NAMES, Synthetic, make_synthetic, on_rate
from .transforms import binarize_dynamic, binarize_static, threshold

DATASETS = ("digits", "mnist")
BINARIZATIONS = (None, "static", "threshold")
DIGITS_VAL_FRACTION, DIGITS_TEST_FRACTION = 0.1, 0.2
MNIST_VAL_FRACTION = 1 / 6          # 10 000 of the 60 000 training images


def load_dataset(name, *, rng, data_dir=None, download=False, val_fraction=None,
                 test_fraction=None, binarize=None):
    """Splits(train, val, test) of the data set `name` (one of DATASETS).

    rng:           numpy.random.Generator that draws the split (and a static binarization).
    data_dir:      mnist only: the folder with the IDX files (default $VAE_DATA_DIR).
    download:      mnist only: fetch missing files first (needs the network).
    val_fraction:  share of the (official training) images kept for validation;
                   default 0.1 for digits, 1/6 (= 10 000 images) for mnist.
    test_fraction: digits only (default 0.2); mnist has its official test set.
    binarize:      None (grey, the default), "static" or "threshold"; see the module docstring.
    """
    check_rng(rng, "load_dataset")
    if binarize not in BINARIZATIONS:
        hint = ""
        if binarize == "dynamic":
            hint = ("; dynamic binarization happens per minibatch: call "
                    "binarize_dynamic(batch, rng) in the training loop")
        raise ValueError(f"load_dataset: unknown binarize={binarize!r}; expected one of "
                         f"{', '.join(map(repr, BINARIZATIONS))}{hint}")
    if name == "digits":
        splits = _digits(rng, val_fraction, test_fraction)
    elif name == "mnist":
        if test_fraction is not None:
            raise ValueError("load_dataset: mnist has an official test set of 10 000 images; "
                             f"expected test_fraction=None, got {test_fraction!r}")
        splits = _mnist(rng, data_dir, download, val_fraction)
    else:
        raise ValueError(f"load_dataset: unknown data set {name!r}; expected one of "
                         f"{', '.join(DATASETS)}")

    if binarize == "static":
        splits = Splits(*(Dataset(binarize_static(d.images, rng), d.labels) for d in splits))
    elif binarize == "threshold":
        splits = Splits(*(Dataset(threshold(d.images), d.labels) for d in splits))
    return splits


def load_for_vae(name, *, rng, **options):
    """(grey, binary), two Splits(train, val, test): the data set `name` as a VAE trains on
    it and is evaluated on it.

    grey:    load_dataset(name, rng=rng, **options): grey values in [0, 1], what a Gaussian
             decoder fits.
    binary:  for a Bernoulli decoder, whose likelihood (thesis eq. 2.31) is one only for
             x ∈ {0, 1}.  The training images stay grey (binary.train is grey.train):
             train.fit(binarize="dynamic") draws a fresh x ~ Bernoulli(grey) for every
             minibatch.  The validation and test images are binarized once, by
             binarize_static with rng right after the split (validation first), labels
             kept: every validation and test ELBO is then measured on the same binary
             images, so ELBOs of different epochs, models and runs of one seed compare
             without the noise of a new draw.
    """
    grey = load_dataset(name, rng=rng, **options)
    fixed = (Dataset(binarize_static(d.images, rng), d.labels) for d in (grey.val, grey.test))
    return grey, Splits(grey.train, *fixed)


def _digits(rng, val_fraction, test_fraction):
    images, labels = load_digits()
    val_fraction = DIGITS_VAL_FRACTION if val_fraction is None else val_fraction
    test_fraction = DIGITS_TEST_FRACTION if test_fraction is None else test_fraction
    parts = train_val_test_split(len(images), val_fraction, test_fraction, rng)
    return Splits(*(take(images, labels, idx) for idx in parts))


def _mnist(rng, data_dir, download, val_fraction):
    train_images, train_labels = load_mnist(data_dir, "train", download=download)
    test = Dataset(*load_mnist(data_dir, "test", download=download))
    val_fraction = MNIST_VAL_FRACTION if val_fraction is None else val_fraction
    train_idx, val_idx, _ = train_val_test_split(len(train_images), val_fraction, 0.0, rng)
    return Splits(take(train_images, train_labels, train_idx),
                  take(train_images, train_labels, val_idx), test)


__all__ = [
    "BINARIZATIONS", "DATASETS", "Dataset", "MissingDependency", "Splits", "binarize_dynamic",
    "binarize_static", "check_rng", "download_mnist", "load_dataset", "load_digits",
    "load_for_vae", "load_mnist", "read_idx", "take", "threshold", "train_val_test_split",
    "SYNTHETIC_NAMES", "Synthetic", "make_synthetic", "on_rate",
]
