"""The applications: what `python -m vae_from_scratch …` runs, built on the library.

    cli.py            the command line (`python -m vae_from_scratch --help`)
    train_command.py  `train`: a VAE on digits or MNIST, curves and samples
    demo.py           `demo`: a three-layer network learns a curve, one line per backend
    bench.py          `bench`: seconds, images/s and GFLOP/s per backend and layer
    chapter_tools.py  what every chapter script shares (its options, results.json)

Nothing in the library below imports from here.
"""
