"""What the data loaders raise when something outside their inputs is wrong, and the
one check every random transform shares.

`MissingDependency` is an ImportError, so `except ImportError` still catches it; its
message says which package is missing and the command that installs it.
"""

from ..utils import check_rng  # noqa: F401  (re-exported: the data loaders' rng check)


class MissingDependency(ImportError):
    """An optional package that this loader needs is not installed."""
