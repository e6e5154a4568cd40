"""The exercises' stubs: one file per exercise, to be copied and filled in.

    python -m vae_from_scratch.exercises stub conv2d_forward > my_conv.py

Each function raises NotImplementedError until a student writes it; the grader
(python -m vae_from_scratch.exercises check NAME --file my_file.py) checks the copy.
"""
