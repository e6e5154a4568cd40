"""python -m vae_from_scratch.exercises: list, show, stub, hint and check (see cli.py)."""

import sys

from .cli import main

sys.exit(main())
