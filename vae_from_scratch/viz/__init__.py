"""Looking at a model: figures (plots.py) and its latent space (latent_space.py).

    plots.py          image grids, ELBO curves, rows of reconstructions, the thesis's
                      figures; save_figure, the one way a figure is written to disk
    latent_space.py   posterior means, active units, latent grids and traversals
"""
