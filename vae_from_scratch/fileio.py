"""Writing files so that nothing is lost: a temporary file, then an atomic rename.

A reader never sees a half-written file, and a crash (or a full disk) mid-write leaves
the previous version in place.  Used for checkpoints (train.py) and downloads
(data/mnist.py).
"""

import os
import tempfile
from pathlib import Path


def atomic_write(path, write):
    """Create or replace the file `path` with what `write(f)` writes to a binary file f.

    The bytes go to a temporary file in the same folder (a rename is atomic only within
    one file system), are flushed to disk, and the file is then renamed over `path`.
    On any error the temporary file is removed and the error raised again.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)             # mkstemp makes it private (0600)
        os.replace(tmp, path)            # atomic on POSIX and Windows
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


__all__ = ["atomic_write"]
