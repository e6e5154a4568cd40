"""python -m vae_from_scratch.exercises: list, show, stub, hint and check (see cli.py)."""

import sys

from .cli import main

if __name__ == "__main__":       # not again in a spawned grading process
    sys.exit(main())
