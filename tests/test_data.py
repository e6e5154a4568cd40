"""The data loaders, offline: digits from scikit-learn's bundled copy, IDX files written
here byte by byte with struct (independently of read_idx), a fake MNIST folder, downloads
served from file:// URLs, the binarizations (Monte Carlo) and the splits."""

import gzip
import hashlib
import socket
import struct
import sys

import numpy as np
import pytest

from vae_from_scratch import data
from vae_from_scratch.data import (Dataset, MissingDependency, Splits, binarize_dynamic,
                                   binarize_static, download_mnist, load_dataset, load_digits,
                                   load_for_vae, load_mnist, read_idx, threshold,
                                   train_val_test_split)
from vae_from_scratch.data import mnist as mnist_module


# --- helpers: IDX bytes written by hand ------------------------------------------------
IDX_CODES = {np.uint8: (0x08, "B"), np.int8: (0x09, "b"), np.int16: (0x0B, "h"),
             np.int32: (0x0C, "i"), np.float32: (0x0D, "f"), np.float64: (0x0E, "d")}


def idx_bytes(array):
    """The IDX encoding of `array`, built with struct (big-endian), not with read_idx's code."""
    code, fmt = IDX_CODES[array.dtype.type]
    flat = array.ravel().tolist()
    return (struct.pack(">BBBB", 0, 0, code, array.ndim)
            + struct.pack(f">{array.ndim}I", *array.shape)
            + struct.pack(f">{len(flat)}{fmt}", *flat))


def write(path, payload, gz=False):
    path.write_bytes(gzip.compress(payload) if gz else payload)
    return path


def fake_mnist(folder, n_train=5, n_test=3, gz=False, seed=0):
    """A folder of small MNIST-format files; returns {split: (uint8 images, uint8 labels)}."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        images[0, 0, 0], images[0, 0, 1] = 0, 255          # both ends of the range
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        image_name, label_name = mnist_module.FILES[split]
        suffix = ".gz" if gz else ""
        write(folder / (image_name + suffix), idx_bytes(images), gz)
        write(folder / (label_name + suffix), idx_bytes(labels), gz)
        out[split] = (images, labels)
    return out


# --- digits ----------------------------------------------------------------------------
def test_digits_shape_dtype_range_labels():
    pytest.importorskip("sklearn", reason="scikit-learn is needed for the bundled digits")
    images, labels = load_digits()
    assert images.shape == (1797, 1, 8, 8) and images.dtype == np.float32
    assert labels.shape == (1797,) and labels.dtype == np.int64
    assert images.min() == 0.0 and images.max() == 1.0
    assert set(np.unique(images * 16)) <= set(range(17))        # exactly the 0..16 values / 16
    assert sorted(np.unique(labels)) == list(range(10))


def test_digits_without_sklearn_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)           # `import sklearn` now fails
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(MissingDependency, match=r'pip install -e "\.\[data\]"') as info:
        load_digits()
    assert isinstance(info.value, ImportError)
    with pytest.raises(MissingDependency):
        load_dataset("digits", rng=np.random.default_rng(0))


# --- IDX -------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", list(IDX_CODES))
@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_read_idx_round_trip(tmp_path, dtype, gz):
    rng = np.random.default_rng(0)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        array = rng.integers(info.min, info.max, size=(3, 4, 5), endpoint=True).astype(dtype)
    else:
        array = rng.normal(size=(3, 4, 5)).astype(dtype)
    # the name does not say .gz: gzip is recognised by its first two bytes
    path = write(tmp_path / "array.idx", idx_bytes(array), gz)
    got = read_idx(path)
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative
    assert got.shape == (3, 4, 5)
    np.testing.assert_array_equal(got, array)
    got[0, 0, 0] = 0                                              # a writable array


def test_read_idx_one_dimensional_and_str_path(tmp_path):
    labels = np.array([7, 2, 1, 0], dtype=np.uint8)
    path = write(tmp_path / "labels", idx_bytes(labels))
    np.testing.assert_array_equal(read_idx(str(path)), labels)


def test_read_idx_truncated(tmp_path):
    good = idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
    path = write(tmp_path / "short", good[:-5])
    with pytest.raises(ValueError, match=r"short.*truncated.*24 data bytes.*found 19"):
        read_idx(path)
    path = write(tmp_path / "short.gz", good[:-5], gz=True)
    with pytest.raises(ValueError, match=r"short\.gz \(after gunzip\).*truncated"):
        read_idx(path)
    path = write(tmp_path / "header", good[:9])                   # cut inside the sizes
    with pytest.raises(ValueError, match=r"truncated header.*16 header bytes, found 9"):
        read_idx(path)
    path = write(tmp_path / "tiny", b"\x00\x00")
    with pytest.raises(ValueError, match=r"4-byte header.*found 2"):
        read_idx(path)


def test_read_idx_extra_bytes(tmp_path):
    good = idx_bytes(np.arange(6, dtype=np.int16).reshape(2, 3))
    path = write(tmp_path / "long", good + b"\x00\x01")
    with pytest.raises(ValueError, match=r"long.*longer than its header says.*12 data bytes"
                                         r".*found 14"):
        read_idx(path)


def test_read_idx_bad_magic_and_type(tmp_path):
    good = idx_bytes(np.zeros((2, 2), dtype=np.uint8))
    path = write(tmp_path / "magic", b"\x01\x00" + good[2:])
    with pytest.raises(ValueError, match=r"magic.*not an IDX file.*00 00.*found 01 00"):
        read_idx(path)
    path = write(tmp_path / "type", good[:2] + b"\x0a" + good[3:])
    with pytest.raises(ValueError, match=r"type.*unknown IDX type byte 0x0A.*0x08 \(uint8\)"):
        read_idx(path)
    path = write(tmp_path / "broken.gz", gzip.compress(good)[:-6])   # gzip without its end
    with pytest.raises(ValueError, match=r"broken\.gz.*gzip.*cannot be decompressed"):
        read_idx(path)


# --- load_mnist ------------------------------------------------------------------------
@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_load_mnist_scales_and_labels(tmp_path, gz):
    raw = fake_mnist(tmp_path, gz=gz)
    for split, n in (("train", 5), ("test", 3)):
        images, labels = load_mnist(tmp_path, split)
        assert images.shape == (n, 1, 28, 28) and images.dtype == np.float32
        assert labels.shape == (n,) and labels.dtype == np.int64
        assert images.min() == 0.0 and images.max() == 1.0
        np.testing.assert_allclose(images[:, 0] * 255, raw[split][0], atol=1e-4)
        np.testing.assert_array_equal(labels, raw[split][1])


def test_load_mnist_uses_env_var(tmp_path, monkeypatch):
    raw = fake_mnist(tmp_path / "mnist")
    monkeypatch.setenv("VAE_DATA_DIR", str(tmp_path / "mnist"))
    images, labels = load_mnist(split="test")
    assert images.shape == (3, 1, 28, 28)
    np.testing.assert_array_equal(labels, raw["test"][1])


def test_load_mnist_without_folder_says_how(monkeypatch):
    monkeypatch.delenv("VAE_DATA_DIR", raising=False)
    with pytest.raises(ValueError, match=r"--data-dir.*VAE_DATA_DIR"):
        load_mnist()


def test_load_mnist_missing_files_listed(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_mnist(tmp_path, "train")
    message = str(info.value)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", str(tmp_path),
                 "download=True", "--download", mnist_module.DEFAULT_URL):
        assert name in message
    # one of the two present: only the other one is named
    fake_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte") as info:
        load_mnist(tmp_path, "test")
    assert "t10k-images" not in str(info.value)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_mnist(tmp_path / "nowhere", "test")


def test_load_mnist_count_mismatch_and_bad_shape(tmp_path):
    fake_mnist(tmp_path)
    write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(np.zeros(4, dtype=np.uint8)))
    with pytest.raises(ValueError, match=r"5 images but.*4 labels"):
        load_mnist(tmp_path, "train")
    write(tmp_path / "t10k-images-idx3-ubyte", idx_bytes(np.zeros((3, 27, 28), dtype=np.uint8)))
    with pytest.raises(ValueError, match=r"\(N, 28, 28\).*\(3, 27, 28\)"):
        load_mnist(tmp_path, "test")
    with pytest.raises(ValueError, match="unknown split 'val'"):
        load_mnist(tmp_path, "val")


def test_load_dataset_mnist(tmp_path):
    fake_mnist(tmp_path, n_train=12, n_test=3)
    splits = load_dataset("mnist", rng=np.random.default_rng(0), data_dir=tmp_path)
    assert [len(d.images) for d in splits] == [10, 2, 3]          # 12 · 1/6 = 2 for validation
    train_images, _ = load_mnist(tmp_path, "train")
    together = np.concatenate([splits.train.images, splits.val.images])
    assert sorted(map(bytes, together)) == sorted(map(bytes, train_images))
    with pytest.raises(ValueError, match="official test set"):
        load_dataset("mnist", rng=np.random.default_rng(0), data_dir=tmp_path, test_fraction=0.2)


# --- download_mnist, offline -----------------------------------------------------------
@pytest.fixture
def mirror(tmp_path):
    """A folder of small gzipped MNIST-format files, its file:// URL and their MD5s."""
    served = tmp_path / "served"
    raw = fake_mnist(served, gz=True)
    md5 = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in served.iterdir()}
    return served.as_uri() + "/", md5, raw


@pytest.fixture
def closed_port():
    """http://127.0.0.1:<port>/ where a socket is bound but not listening: connection refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    sock.close()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    for var in ("no_proxy", "NO_PROXY"):
        monkeypatch.setenv(var, "*")            # localhost URLs must not go to a proxy


def test_download_then_load(tmp_path, mirror):
    url, md5, raw = mirror
    target = tmp_path / "data"
    paths = download_mnist(target, base_url=url, timeout=5, checksums=md5)
    assert sorted(p.name for p in paths) == sorted(md5)
    assert sorted(p.name for p in target.iterdir()) == sorted(md5)   # no temporary files left
    images, labels = load_mnist(target, "train")
    np.testing.assert_array_equal(labels, raw["train"][1])
    assert images.shape == (5, 1, 28, 28)


def test_download_skips_good_files(tmp_path, mirror, closed_port):
    url, md5, _ = mirror
    target = tmp_path / "data"
    download_mnist(target, base_url=url, checksums=md5)
    before = {p.name: p.stat().st_mtime_ns for p in target.iterdir()}
    # the network is gone now: nothing may be fetched again
    download_mnist(target, base_url=closed_port, timeout=2, checksums=md5)
    assert {p.name: p.stat().st_mtime_ns for p in target.iterdir()} == before


def test_download_replaces_a_damaged_file(tmp_path, mirror):
    url, md5, _ = mirror
    target = tmp_path / "data"
    target.mkdir()
    name = "train-labels-idx1-ubyte.gz"
    (target / name).write_bytes(b"damaged")
    download_mnist(target, base_url=url, checksums={name: md5[name]})
    assert hashlib.md5((target / name).read_bytes()).hexdigest() == md5[name]


def test_download_checksum_mismatch(tmp_path, mirror):
    url, md5, _ = mirror
    name = "t10k-labels-idx1-ubyte.gz"
    wrong = "0" * 32
    target = tmp_path / "data"
    with pytest.raises(ValueError, match=fr"{name}.*{md5[name]}.*expected {wrong}"):
        download_mnist(target, base_url=url, checksums={name: wrong})
    assert list(target.iterdir()) == []                          # nothing left behind


def test_download_unreachable(tmp_path, closed_port):
    with pytest.raises(ConnectionError) as info:
        download_mnist(tmp_path / "data", base_url=[closed_port, closed_port + "x/"], timeout=2)
    message = str(info.value)
    assert "download of train-images-idx3-ubyte.gz failed" in message
    assert message.count(closed_port) >= 2                       # each mirror and its error
    assert "by hand" in message and str(tmp_path / "data") in message
    assert list((tmp_path / "data").iterdir()) == []


def test_load_mnist_download_true(tmp_path, mirror, monkeypatch):
    url, md5, raw = mirror
    monkeypatch.setattr(mnist_module, "MIRRORS", (url,))
    monkeypatch.setattr(mnist_module, "MNIST_MD5", md5)
    images, labels = load_mnist(tmp_path / "data", "test", download=True)
    np.testing.assert_array_equal(labels, raw["test"][1])
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == [
        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]  # only what the split needs


# --- binarization ----------------------------------------------------------------------
GREY = np.linspace(0, 1, 11, dtype=np.float32).reshape(1, 1, 1, 11)


@pytest.mark.parametrize("fn", [binarize_static, binarize_dynamic])
def test_bernoulli_binarization(fn, rng):
    out = fn(GREY, rng)
    assert out.shape == GREY.shape and out.dtype == np.float32
    assert set(np.unique(out)) <= {0.0, 1.0}
    assert out[..., 0] == 0 and out[..., -1] == 1                # p = 0 and p = 1 are certain
    # Monte Carlo: the mean of n draws is within 4 standard errors √(p(1−p)/n) of p
    n = 20000
    draws = fn(np.broadcast_to(GREY, (n, 1, 1, 11)), rng)
    p = GREY.ravel().astype(np.float64)
    stderr = np.sqrt(p * (1 - p) / n)
    assert np.all(np.abs(draws.mean(axis=0).ravel() - p) <= 4 * stderr + 1e-12)


def test_binarization_seeded_and_static_vs_dynamic():
    x = np.random.default_rng(5).random((4, 1, 8, 8))
    # the same seed gives the same draw, and both functions draw the same way
    a = binarize_static(x, np.random.default_rng(1))
    np.testing.assert_array_equal(a, binarize_static(x, np.random.default_rng(1)))
    np.testing.assert_array_equal(a, binarize_dynamic(x, np.random.default_rng(1)))
    # dynamic: each call on the running generator (each epoch) is a fresh draw
    rng = np.random.default_rng(2)
    epochs = [binarize_dynamic(x, rng) for _ in range(3)]
    assert not np.array_equal(epochs[0], epochs[1]) and not np.array_equal(epochs[1], epochs[2])


def test_load_dataset_static_binarization():
    """binarize="static": one draw made at loading, kept, and the same for the same seed."""
    pytest.importorskip("sklearn", reason="scikit-learn is needed for the bundled digits")
    grey = load_dataset("digits", rng=np.random.default_rng(0))
    static = load_dataset("digits", rng=np.random.default_rng(0), binarize="static")
    again = load_dataset("digits", rng=np.random.default_rng(0), binarize="static")
    for g, s, a in zip(grey, static, again):
        assert set(np.unique(s.images)) <= {0.0, 1.0} and s.images.dtype == np.float32
        np.testing.assert_array_equal(s.images, a.images)
        np.testing.assert_array_equal(s.labels, g.labels)        # the same split
        assert np.all(s.images[g.images == 0] == 0) and np.all(s.images[g.images == 1] == 1)


def test_load_for_vae_keeps_train_grey_and_binarizes_val_and_test_once():
    """The recipe the train command and the chapters share: the split, then one static
    draw for the validation images and one for the test images, from the same rng."""
    pytest.importorskip("sklearn", reason="scikit-learn is needed for the bundled digits")
    grey, binary = load_for_vae("digits", rng=np.random.default_rng(5))
    rng = np.random.default_rng(5)
    split = load_dataset("digits", rng=rng)
    for g, s in zip(grey, split):
        np.testing.assert_array_equal(g.images, s.images)
        np.testing.assert_array_equal(g.labels, s.labels)
    assert binary.train is grey.train                          # binarized per minibatch by fit
    for b, g in zip(binary[1:], grey[1:]):
        np.testing.assert_array_equal(b.images, binarize_static(g.images, rng))
        np.testing.assert_array_equal(b.labels, g.labels)


def test_threshold():
    out = threshold(GREY)
    assert out.dtype == np.float32 and out.shape == GREY.shape
    np.testing.assert_array_equal(out.ravel(), (np.arange(11) > 5).astype(np.float32))
    np.testing.assert_array_equal(threshold(np.array([0.3, 0.8, 1.4]), t=0.75), [0, 1, 1])
    with pytest.raises(ValueError, match="finite"):
        threshold(np.array([0.2, np.nan]))


@pytest.mark.parametrize("fn", [binarize_static, binarize_dynamic])
def test_binarization_bad_input(fn):
    with pytest.raises(TypeError, match="numpy.random.Generator.*got int"):
        fn(GREY, 0)
    with pytest.raises(TypeError, match="got RandomState"):
        fn(GREY, np.random.RandomState(0))
    with pytest.raises(ValueError, match=r"\[0, 1\].*from -0\.1 to 1\.0"):
        fn(np.array([-0.1, 0.5, 1.0]), np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"\[0, 1\].*to 255"):
        fn(np.array([0, 255], dtype=np.uint8), np.random.default_rng(0))
    with pytest.raises(ValueError, match="NaN"):
        fn(np.array([0.5, np.nan]), np.random.default_rng(0))


# --- splits ----------------------------------------------------------------------------
def test_split_disjoint_covering_reproducible():
    parts = train_val_test_split(103, 0.1, 0.2, np.random.default_rng(3))
    assert [len(p) for p in parts] == [72, 10, 21]               # round(10.3), round(20.6)
    everything = np.concatenate(parts)
    assert len(everything) == 103 and set(everything.tolist()) == set(range(103))
    again = train_val_test_split(103, 0.1, 0.2, np.random.default_rng(3))
    other = train_val_test_split(103, 0.1, 0.2, np.random.default_rng(4))
    assert all(np.array_equal(a, b) for a, b in zip(parts, again))
    assert not np.array_equal(parts[1], other[1])


def test_split_bad_input():
    with pytest.raises(TypeError, match="Generator"):
        train_val_test_split(10, 0.1, 0.1, rng=None)
    with pytest.raises(ValueError, match="positive integer"):
        train_val_test_split(0, 0.1, 0.1, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"val_fraction in \[0, 1\), got 1\.5"):
        train_val_test_split(10, 1.5, 0.1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="leave 0 examples for training"):
        train_val_test_split(10, 0.5, 0.5, np.random.default_rng(0))


def test_load_dataset_digits_proportions():
    pytest.importorskip("sklearn", reason="scikit-learn is needed for the bundled digits")
    splits = load_dataset("digits", rng=np.random.default_rng(0))
    assert isinstance(splits, Splits) and all(isinstance(d, Dataset) for d in splits)
    assert [len(d.images) for d in splits] == [1258, 180, 359]   # 70 % / 10 % / 20 % of 1797
    assert all(len(d.images) == len(d.labels) for d in splits)
    images, labels = splits.train                                # unpacks as (images, labels)
    assert images.shape[1:] == (1, 8, 8) and images.dtype == np.float32
    # every original image lands in exactly one part
    all_images, _ = load_digits()
    together = np.concatenate([d.images for d in splits])
    assert sorted(map(bytes, together)) == sorted(map(bytes, all_images))
    custom = load_dataset("digits", rng=np.random.default_rng(0), val_fraction=0.2,
                          test_fraction=0.3)
    assert [len(d.images) for d in custom] == [899, 359, 539]
    thresholded = load_dataset("digits", rng=np.random.default_rng(0), binarize="threshold")
    np.testing.assert_array_equal(thresholded.val.images, splits.val.images > 0.5)


def test_load_dataset_bad_arguments():
    with pytest.raises(ValueError, match="unknown data set 'cifar'.*digits, mnist"):
        load_dataset("cifar", rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="binarize_dynamic.*training loop"):
        load_dataset("digits", rng=np.random.default_rng(0), binarize="dynamic")
    with pytest.raises(TypeError, match="Generator"):
        load_dataset("digits", rng=42)
    assert data.DATASETS == ("digits", "mnist")
