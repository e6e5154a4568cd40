"""MNIST from its original IDX files: 60 000 training and 10 000 test images of 28×28.

Where the files are looked up
-----------------------------
`load_mnist(data_dir=…)` reads the four files from the folder `data_dir`; when
data_dir is None it uses the folder named by the environment variable VAE_DATA_DIR
(`export VAE_DATA_DIR=~/data/mnist`).  With neither it raises a ValueError that says so.
The folder holds the files themselves (not a subfolder), each plain or gzipped:

    train-images-idx3-ubyte[.gz]   train-labels-idx1-ubyte[.gz]     (split="train")
    t10k-images-idx3-ubyte[.gz]    t10k-labels-idx1-ubyte[.gz]      (split="test")

Nothing downloads unless you ask: `load_mnist(…, download=True)` or
`download_mnist(folder)` fetch the missing `.gz` files with urllib, check each against
the MD5 in MNIST_MD5, and write it atomically.  Without a network, copy the four files
into the folder by hand from any of MIRRORS.  When files are missing, the FileNotFoundError names
every missing file at once (those of the other split too) and says how to get them.

The IDX format (http://yann.lecun.com/exdb/mnist/, bottom of the page)
-------------------------------------------------------------------
    bytes 0–1   0x00 0x00                        the magic number begins with two zeros
    byte  2     the type of the values           0x08 uint8, 0x09 int8, 0x0B int16,
                                                 0x0C int32, 0x0D float32, 0x0E float64
    byte  3     ndim, the number of dimensions
    then        ndim sizes, big-endian uint32    (60000, 28, 28) for the training images
    then        the values, big-endian, C order  (last index fastest)
"""

import gzip
import hashlib
import http.client
import math
import os
import struct
import urllib.request
import zlib
from pathlib import Path

import numpy as np

from ..utils import atomic_write

ENV_VAR = "VAE_DATA_DIR"
DEFAULT_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"        # torchvision's mirror
MIRRORS = (DEFAULT_URL, "https://storage.googleapis.com/cvdf-datasets/mnist/")

FILES = {   # split -> (images, labels), without the .gz
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
MNIST_MD5 = {   # of the gzipped files, as published (the same table torchvision uses)
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}

IDX_DTYPES = {  # type byte -> NumPy dtype (big-endian, as stored)
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
GZIP_MAGIC = b"\x1f\x8b"    # every gzip file starts so; an IDX file starts 00 00, so no clash


# --- reading -------------------------------------------------------------------------
def read_idx(path):
    """The array stored in the IDX file at `path` (plain or gzipped), in native byte order.

    Raises ValueError, naming the file, when the magic bytes or the type byte are wrong
    or when the data are shorter or longer than the sizes in the header say.
    """
    path = Path(path)
    raw = path.read_bytes()
    what = str(path)
    if raw[:2] == GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"{path}: starts like a gzip file (bytes 1f 8b) but cannot be "
                             f"decompressed: {exc}") from exc
        what = f"{path} (after gunzip)"

    if len(raw) < 4:
        raise ValueError(f"{what}: not an IDX file: expected a 4-byte header "
                         f"(00 00, type, ndim), found {len(raw)} byte(s)")
    if raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{what}: not an IDX file: expected the magic bytes 00 00 at the "
                         f"start, found {raw[0]:02x} {raw[1]:02x}")
    code, ndim = raw[2], raw[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X} ({d.name})" for c, d in IDX_DTYPES.items())
        raise ValueError(f"{what}: unknown IDX type byte 0x{code:02X}; expected one of {known}")
    dtype = IDX_DTYPES[code]

    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{what}: truncated header: {ndim} dimensions need {header} header "
                         f"bytes, found {len(raw)}")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    count = math.prod(shape)
    expected, found = count * dtype.itemsize, len(raw) - header
    if found != expected:
        problem = "truncated" if found < expected else "longer than its header says"
        raise ValueError(f"{what}: {problem}: the header promises shape {shape} of {dtype.name}, "
                         f"i.e. {expected} data bytes after the {header}-byte header, "
                         f"found {found}")
    data = np.frombuffer(raw, dtype=dtype, count=count, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))     # a writable copy in native byte order


def resolve_data_dir(data_dir=None):
    """`data_dir`, else $VAE_DATA_DIR, as a Path; ValueError when neither is given."""
    if data_dir is None or data_dir == "":
        data_dir = os.environ.get(ENV_VAR) or None
    if data_dir is None:
        raise ValueError(f"MNIST: no data folder given: pass data_dir=… (--data-dir on the "
                         f"command line) or set the environment variable {ENV_VAR} to the "
                         f"folder that holds (or should hold) the MNIST files")
    return Path(data_dir).expanduser()


def _find(folder, name):
    """folder/name if it exists, else folder/name.gz, else None."""
    for candidate in (folder / name, folder / (name + ".gz")):
        if candidate.is_file():
            return candidate
    return None


def _missing_message(folder, split, missing):
    """What load_mnist says when files of `split` are missing: those, and with them every
    file of the other split that is missing too (training reads both splits, so that one
    message names everything to fetch), and the ways to get them."""
    others = [name for other, names in FILES.items() if other != split for name in names
              if _find(folder, name) is None]
    where = folder if folder.is_dir() else f"{folder} (the folder does not exist)"
    also = ""
    if others:
        also = (f"; for the other split, also missing: "
                f"{', '.join(n + '[.gz]' for n in others)}")
    every = missing + others
    return (f"MNIST ({split}): missing {', '.join(n + '[.gz]' for n in missing)} in {where}"
            f"{also}. Get them with load_mnist(..., download=True), or "
            f"`python -m vae_from_scratch train --data mnist --download --data-dir {folder}`, "
            f"or by hand: download {', '.join(n + '.gz' for n in every)} from {DEFAULT_URL} "
            f"and put them (gzipped or not) in that folder")


def load_mnist(data_dir=None, split="train", download=False):
    """(images, labels) of one split: images (N, 1, 28, 28) float32 in [0, 1] (the bytes
    0..255 divided by 255), labels (N,) int64 in 0..9.  N = 60000 for split="train",
    10000 for split="test".

    data_dir: the folder with the files (default: $VAE_DATA_DIR, see the module docstring).
    download: fetch the missing files first with download_mnist (needs the network).
    """
    if split not in FILES:
        raise ValueError(f"load_mnist: unknown split {split!r}; expected 'train' or 'test'")
    folder = resolve_data_dir(data_dir)
    names = FILES[split]
    missing = [name for name in names if _find(folder, name) is None]
    if missing and download:
        download_mnist(folder, checksums={n + ".gz": MNIST_MD5[n + ".gz"] for n in missing})
        missing = [name for name in names if _find(folder, name) is None]
    if missing:
        raise FileNotFoundError(_missing_message(folder, split, missing))

    image_path, label_path = (_find(folder, name) for name in names)
    images, labels = read_idx(image_path), read_idx(label_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"{image_path}: expected uint8 images of shape (N, 28, 28), "
                         f"got {images.dtype} of shape {images.shape}")
    if labels.ndim != 1:
        raise ValueError(f"{label_path}: expected labels of shape (N,), got shape {labels.shape}")
    if len(images) != len(labels):
        raise ValueError(f"MNIST ({split}): {image_path.name} holds {len(images)} images but "
                         f"{label_path.name} holds {len(labels)} labels; expected the same "
                         f"count (are the two files from the same split?)")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"{label_path}: expected labels 0..9, found values from "
                         f"{labels.min()} to {labels.max()}")
    images = (images.astype(np.float32) / np.float32(255)).reshape(-1, 1, 28, 28)
    return images, labels.astype(np.int64)


# --- downloading (only when asked) ---------------------------------------------------
def _md5_hex(data):
    # usedforsecurity=False (Python ≥ 3.9): MD5 only detects damaged files here, and the
    # flag keeps it working on FIPS-restricted systems where MD5 is otherwise refused.
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _fetch(urls, name, timeout):
    """(bytes, url) from the first mirror that answers; ConnectionError when none does."""
    failures = []
    for base in urls:
        url = base.rstrip("/") + "/" + name
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                return response.read(), url
        except (OSError, http.client.HTTPException) as exc:
            # URLError (refused, no DNS, HTTP 404 …) and socket timeouts are OSErrors;
            # a connection cut mid-transfer raises http.client.IncompleteRead.
            failures.append((url, exc))
    tried = "; ".join(f"{url}: {exc}" for url, exc in failures)
    raise ConnectionError(f"download of {name} failed, every mirror refused or timed out "
                          f"({tried})") from failures[-1][1]


def download_mnist(data_dir, base_url=None, timeout=30, checksums=None):
    """Download the gzipped MNIST files into `data_dir` (created if needed); return their paths.

    base_url:  a URL or a list of URLs tried in turn (default MIRRORS); file:// works too.
    timeout:   seconds per connection attempt.
    checksums: {file name: MD5} of the files to fetch (default MNIST_MD5, all four).

    A file already present with the right checksum is kept and not fetched again.  A
    downloaded file whose checksum differs raises ValueError and nothing is written.
    No network -> ConnectionError saying why and how to place the files by hand.
    """
    if base_url is None:
        base_url = MIRRORS          # looked up now, so that it can be changed at run time
    urls = [base_url] if isinstance(base_url, str) else list(base_url)
    if not urls or not all(isinstance(u, str) for u in urls):
        raise ValueError(f"download_mnist: expected base_url as a URL string or a list of them, "
                         f"got {base_url!r}")
    checksums = dict(MNIST_MD5 if checksums is None else checksums)
    folder = Path(data_dir).expanduser()
    folder.mkdir(parents=True, exist_ok=True)

    paths = []
    for name, md5 in checksums.items():
        target = folder / name
        if target.is_file() and _md5_hex(target.read_bytes()) == md5:
            paths.append(target)
            continue
        try:
            data, url = _fetch(urls, name, timeout)
        except ConnectionError as exc:
            raise ConnectionError(
                f"{exc}.  To place the files by hand: download {', '.join(checksums)} on a "
                f"machine with network access (e.g. from {urls[0]}) and copy them, gzipped "
                f"or not, into {folder}; load_mnist(data_dir={str(folder)!r}) then reads "
                f"them from there") from exc.__cause__
        got = _md5_hex(data)
        if got != md5:
            raise ValueError(f"downloaded {name} from {url}: MD5 checksum {got}, expected {md5}; "
                             f"the file was not kept (a damaged transfer or a bad mirror: try "
                             f"again, another base_url, or place the file by hand)")
        atomic_write(target, lambda f: f.write(data))
        paths.append(target)
    return paths
