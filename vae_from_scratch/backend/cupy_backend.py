"""The CuPy backend (GPU).  Work in progress: see issue 5."""

from . import BackendUnavailable


def build():
    try:
        import cupy  # noqa: F401
    except ImportError as error:
        raise BackendUnavailable(
            f"the 'cupy' backend needs CuPy and a CUDA GPU; CuPy is not installed here "
            f"({error}); install it with: pip install -e \".[gpu]\"") from None
    raise BackendUnavailable("the 'cupy' backend is not written yet")
