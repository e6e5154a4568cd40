"""Command line: python -m vae_from_scratch <command> [options]."""

import argparse
import os
import sys

# Every command takes --backend; without it, $VAE_BACKEND, else the fastest that works.
BACKEND_HELP = ("numpy, numba, cupy or auto: CuPy where a GPU works, else Numba where it is "
                "installed, else NumPy (default: $VAE_BACKEND, else auto)")
BLAS_HELP = ("threads for NumPy's BLAS (OpenBLAS) matrix products; 1 makes the sums "
             "independent of the thread count and is faster for small convolutions beside "
             "Numba's threads (default: %s)")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m vae_from_scratch",
                                     description="Variational autoencoders from scratch on NumPy.")
    sub = parser.add_subparsers(dest="command", metavar="command")

    demo = sub.add_parser("demo", help="fit a small MLP by hand-written backpropagation")
    demo.add_argument("--steps", type=int, default=3000, help="SGD steps (default 3000)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument("--out", default="runs/demo", help="folder for the figure (default runs/demo)")
    demo.add_argument("--backend", default=None, help=BACKEND_HELP)

    train = sub.add_parser("train", help="train a VAE on handwritten digits and report the "
                                         "test ELBO and the IWAE estimate of log p(x)")
    train.add_argument("--data", choices=("digits", "mnist"), default="digits",
                       help="digits: scikit-learn's 8×8 digits (needs the data extra); mnist: "
                            "the IDX files in --data-dir (default digits)")
    train.add_argument("--model", choices=("mlp", "conv"), default="mlp")
    train.add_argument("--likelihood", choices=("bernoulli", "gaussian"), default="bernoulli")
    train.add_argument("--decoder-var", default="0.1",
                       help="gaussian likelihood: a fixed variance σ², or 'learned' (default 0.1)")
    train.add_argument("--latent-dim", type=int, default=None)
    train.add_argument("--hidden", type=int, nargs="+", default=None,
                       help="hidden layer sizes of the MLP")
    train.add_argument("--epochs", type=int, default=None)
    train.add_argument("--batch-size", type=int, default=None)
    train.add_argument("--lr", type=float, default=None, help="Adam learning rate")
    train.add_argument("--anneal-steps", type=int, default=0,
                       help="KL annealing: β rises from 0 to 1 over this many steps (default 0)")
    train.add_argument("--iwae-k", type=int, default=50, help="samples for the IWAE log p(x)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", default="runs/vae", help="output folder (default runs/vae)")
    train.add_argument("--data-dir", default=None,
                       help="folder with the MNIST IDX files (default $VAE_DATA_DIR)")
    train.add_argument("--download", action="store_true",
                       help="download MNIST into --data-dir first (needs the network)")
    train.add_argument("--resume", action="store_true",
                       help="continue from OUT/checkpoint.npz if it exists")
    train.add_argument("--backend", default=None, help=BACKEND_HELP)
    train.add_argument("--quiet", action="store_true", help="no progress output")
    train.add_argument("--blas-threads", type=int, default=None, metavar="N",
                       help=BLAS_HELP % "as OpenBLAS chose")

    thesis = sub.add_parser("thesis", help="reproduce the thesis's chapter 3: the dual VAE on "
                                           "X90, X50 and X90_20, figures 3.1–3.6, separation")
    thesis.add_argument("--datasets", nargs="+", default=["X90", "X50", "X90_20"],
                        choices=["X90", "X50", "X90_20"])
    thesis.add_argument("--epochs", type=int, default=30, help="epochs per data set (default 30)")
    thesis.add_argument("--lr", type=float, default=1e-3,
                        help="Adam's learning rate (default 1e-3, our reading: the thesis "
                             "gives none; at 1e-3, 30 epochs are mid-climb)")
    thesis.add_argument("--seed", type=int, default=0)
    thesis.add_argument("--quick", action="store_true",
                        help="256 images and 2 epochs per data set: a check that all runs")
    thesis.add_argument("--interaction", choices=["both", "fg-only", "bg-only", "none"],
                        default="both", help="which decoders see the interaction layer's output "
                                             "(fg-only cuts it from the background decoder)")
    thesis.add_argument("--weight-on", choices=["elbo", "reconstruction"], default="elbo",
                        help="the ELBO2 weight 450 multiplies the whole ELBO2 or its "
                             "reconstruction term only")
    thesis.add_argument("--oversample", type=int, default=1,
                        help="repeat the images without active background this many times "
                             "(default 1)")
    thesis.add_argument("--data-mode", choices=["binary", "grey"], default="binary",
                        help="binary: the thesis's binarized images and a Bernoulli decoder 1; "
                             "grey: the raw grey images and a Gaussian decoder 1 with a learned "
                             "noise level (thesis §3.3) (default binary)")
    thesis.add_argument("--latent1", type=int, default=4, metavar="N",
                        help="dimensions of z1, the foreground code (default 4)")
    thesis.add_argument("--latent2", type=int, default=1, metavar="N",
                        help="dimensions of z2, the background code (default 1)")
    thesis.add_argument("--decoder1", choices=["plain", "structured"], default="plain",
                        help="structured: decoder 1 = foreground decoder + a full-resolution "
                             "background map decoded from z2 (default plain)")
    thesis.add_argument("--free-bits2", type=float, default=0.0, metavar="NATS",
                        help="free bits for z2: its KL costs nothing below NATS per dimension "
                             "(default 0, off)")
    thesis.add_argument("--decorrelate", type=float, default=0.0, metavar="GAMMA",
                        help="add GAMMA · ||Cov(mu1, mu2)||² over each batch to the loss "
                             "(default 0, off)")
    thesis.add_argument("--out", default="runs/thesis")
    thesis.add_argument("--backend", default=None, help=BACKEND_HELP)
    thesis.add_argument("--quiet", action="store_true")
    thesis.add_argument("--blas-threads", type=int, default=1, metavar="N",
                        help=BLAS_HELP % "1, as for the tables in docs/thesis.md")

    bench = sub.add_parser("bench", help="time one training epoch of the dual VAE and of an "
                                         "MLP VAE on each backend: s/epoch, GFLOP/s, memory")
    bench.add_argument("--models", default="dual,mlp",
                       help="comma list of dual, mlp (default dual,mlp)")
    bench.add_argument("--backends", default=None,
                       help="comma list of numpy, numba, cupy (default: every one that loads; "
                            "one that cannot is reported with the reason)")
    bench.add_argument("--epochs", type=int, default=None,
                       help="timed epochs; the median is reported (default 3, 1 with --quick)")
    bench.add_argument("--quick", action="store_true",
                       help="256 dual and 512 MLP images, 1 epoch: a check that all runs")
    bench.add_argument("--json", default=None, metavar="PATH",
                       help="also write the figures as JSON to PATH")
    bench.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    bench.add_argument("--blas-threads", type=int, default=None, metavar="N",
                       help=BLAS_HELP % "as OpenBLAS chose")

    args = parser.parse_args(argv)
    if args.command == "thesis":
        _check_thesis_args(args, thesis)
    if getattr(args, "blas_threads", None) is None:
        return _run(args, parser)
    if args.blas_threads < 1:
        parser.error(f"--blas-threads: expected a positive number, got {args.blas_threads}")
    # before a backend loads: the Numba backend chooses how its threads wait from it
    from ..backend.blas_threads import set_blas_threads
    previous = set_blas_threads(args.blas_threads)
    try:
        return _run(args, parser)
    finally:                                     # a caller in the same process gets its own back
        if previous is not None:
            set_blas_threads(previous)


def _run(args, parser):
    if getattr(args, "backend", None) is None and args.command in ("demo", "train", "thesis"):
        args.backend = os.environ.get("VAE_BACKEND", "").strip() or "auto"
    if args.command in ("demo", "train", "thesis"):
        from ..backend import BackendUnavailable, get_backend
        try:
            get_backend(args.backend)
        except (BackendUnavailable, ValueError) as error:     # unknown, or cannot run here
            print(f"error: {error}", file=sys.stderr)
            return 1
    if args.command == "demo":
        from .demo import run
        run(steps=args.steps, seed=args.seed, out_dir=args.out, backend=args.backend)
        return 0
    if args.command == "train":
        from .train_command import train_vae
        from ..train import DivergenceError
        try:
            train_vae(args.data, args.model, args.likelihood, latent_dim=args.latent_dim,
                      hidden=args.hidden, epochs=args.epochs, batch_size=args.batch_size,
                      lr=args.lr, anneal_steps=args.anneal_steps, seed=args.seed,
                      iwae_k=args.iwae_k, out_dir=args.out, data_dir=args.data_dir,
                      download=args.download, resume=args.resume, backend=args.backend,
                      quiet=args.quiet, decoder_var=_variance(args.decoder_var))
        except (ValueError, OSError, ImportError, DivergenceError) as error:
            # errors a user can act on (missing files, no network, a bad checkpoint, a
            # missing extra, divergence): the message, not a traceback
            print(f"error: {error}", file=sys.stderr)
            return 1
        return 0
    if args.command == "thesis":
        from ..thesis.reproduction import run_thesis
        run_thesis(args.datasets, args.out, quick=args.quick, epochs=args.epochs, seed=args.seed,
                   backend=args.backend, quiet=args.quiet, interaction=args.interaction,
                   weight_on=args.weight_on, oversample=args.oversample, data_mode=args.data_mode,
                   latent1=args.latent1, latent2=args.latent2, decoder1=args.decoder1,
                   free_bits2=args.free_bits2, decorrelate=args.decorrelate, lr=args.lr)
        return 0
    if args.command == "bench":
        from .bench import run_bench
        try:
            records = run_bench(args.models, args.backends, epochs=args.epochs,
                                quick=args.quick, json_path=args.json, seed=args.seed)
        except ValueError as error:          # an unknown model or backend name
            print(f"error: {error}", file=sys.stderr)
            return 2
        return 0 if records else 1           # 1: no backend could be loaded
    parser.print_help()
    return 0


def _check_thesis_args(args, parser):
    """The thesis command's numbers, before a backend loads or any work starts."""
    import math
    for option, value in (("--epochs", args.epochs), ("--oversample", args.oversample),
                          ("--latent1", args.latent1), ("--latent2", args.latent2)):
        if value < 1:
            parser.error(f"{option}: expected a whole number >= 1, got {value}")
    for option, value in (("--free-bits2", args.free_bits2), ("--decorrelate", args.decorrelate)):
        if not (math.isfinite(value) and value >= 0):
            parser.error(f"{option}: expected a finite number >= 0, got {value}")
    if not (math.isfinite(args.lr) and args.lr > 0):
        parser.error(f"--lr: expected a finite number > 0, got {args.lr}")


def _variance(text):
    if text == "learned":
        return text
    try:
        return float(text)
    except ValueError:
        raise SystemExit(f"--decoder-var: expected a number or 'learned', got {text!r}") from None


if __name__ == "__main__":
    sys.exit(main())
