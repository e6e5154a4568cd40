"""Command line: python -m vae_from_scratch <command> [options].

Every option's value is checked while it is parsed (apps/options.py): a bad one is one
line with the command's usage and exit code 2, before a backend loads or a folder is
touched.  A command's other mistakes — a folder that holds another run, a missing data
file, a corrupt checkpoint, a diverging run — are one line `error: …` too, never a
traceback.  Ctrl-C ends a training command with one line and exit code 130; its last
checkpoint is intact and `--resume` continues from it.
"""

import argparse
import os
import sys

from .options import BACKENDS, SEED_HELP, Parser, folder, real, seed, whole

BACKEND_HELP = ("numpy, numba, cupy or auto: CuPy where a GPU works, else Numba where it is "
                "installed, else NumPy (default: $VAE_BACKEND, else auto)")
BLAS_HELP = ("threads for NumPy's BLAS (OpenBLAS) matrix products; 1 makes the sums "
             "independent of the thread count and is faster for small convolutions beside "
             "Numba's threads (default: %s)")
QUIET_HELP = "no progress bar or per-epoch lines; the results are still printed (default: off)"
FORCE_HELP = ("write into --out even if it holds a finished run of other options or an "
              "unfinished one (default: off, such a folder is refused)")
RESUME_HELP = ("continue the run in --out from its last checkpoint: same options, --epochs may "
               "grow (default: off)")
INTERRUPTED = 130                               # the shell's code for a process ended by Ctrl-C


def variance(text):
    """--decoder-var: a number > 0 or 'learned'."""
    return text if text == "learned" else real(0.0)(text)


variance.__name__ = "variance"


def build_parser():
    parser = Parser(prog="python -m vae_from_scratch",
                    description="Variational autoencoders from scratch on NumPy.")
    sub = parser.add_subparsers(dest="command", metavar="command", parser_class=Parser)

    demo = sub.add_parser("demo", help="fit a small MLP by hand-written backpropagation")
    demo.add_argument("--steps", type=whole(1), default=3000, help="SGD steps (default %(default)s)")
    demo.add_argument("--seed", type=seed, default=0, help=SEED_HELP)
    demo.add_argument("--out", type=folder, default="runs/demo",
                      help="folder for the figure (default %(default)s)")
    demo.add_argument("--backend", choices=BACKENDS, default=None, help=BACKEND_HELP)

    train = sub.add_parser("train", help="train a VAE on handwritten digits and report the "
                                         "test ELBO and the IWAE estimate of log p(x)")
    train.add_argument("--data", choices=("digits", "mnist"), default="digits",
                       help="digits: scikit-learn's 8×8 digits (needs the data extra); mnist: "
                            "the IDX files in --data-dir (default %(default)s)")
    train.add_argument("--model", choices=("mlp", "conv"), default="mlp",
                       help="mlp: Dense layers; conv: convolutions (default %(default)s)")
    train.add_argument("--likelihood", choices=("bernoulli", "gaussian"), default="bernoulli",
                       help="the decoder's p(x|z): Bernoulli on binarized images or Gaussian on "
                            "grey values (default %(default)s)")
    train.add_argument("--decoder-var", type=variance, default=None, metavar="VAR",
                       help="Gaussian likelihood only: a fixed variance σ² > 0, or 'learned' "
                            "(default 0.1)")
    train.add_argument("--latent-dim", type=whole(1), default=None, metavar="N",
                       help="dimensions of z (default 8 for digits, 20 for mnist)")
    train.add_argument("--hidden", type=whole(1), nargs="+", default=None, metavar="N",
                       help="MLP only: hidden layer sizes (default 256 for digits, 400 for mnist)")
    train.add_argument("--epochs", type=whole(1), default=None,
                       help="passes over the training images (default 300 for digits, 30 for mnist)")
    train.add_argument("--batch-size", type=whole(1), default=None, metavar="N",
                       help="images per minibatch (default 50 for digits, 100 for mnist)")
    train.add_argument("--lr", type=real(0.0), default=None,
                       help="Adam's learning rate (default 1e-3)")
    train.add_argument("--anneal-steps", type=whole(0), default=0, metavar="STEPS",
                       help="KL annealing: β rises from 0 to 1 over this many steps "
                            "(default %(default)s, off)")
    train.add_argument("--iwae-k", type=whole(1), default=50, metavar="K",
                       help="samples per image for the IWAE estimate of log p(x) (default %(default)s)")
    train.add_argument("--seed", type=seed, default=0, help=SEED_HELP)
    train.add_argument("--out", type=folder, default="runs/vae",
                       help="output folder (default %(default)s)")
    train.add_argument("--data-dir", default=None, metavar="DIR",
                       help="mnist only: the folder with the MNIST IDX files (default $VAE_DATA_DIR)")
    train.add_argument("--download", action="store_true",
                       help="mnist only: download MNIST into --data-dir first; needs the network "
                            "(default: off, nothing is downloaded)")
    train.add_argument("--resume", action="store_true", help=RESUME_HELP)
    train.add_argument("--force", action="store_true", help=FORCE_HELP)
    train.add_argument("--backend", choices=BACKENDS, default=None, help=BACKEND_HELP)
    train.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    train.add_argument("--blas-threads", type=whole(1), default=None, metavar="N",
                       help=BLAS_HELP % "as OpenBLAS chose")

    thesis = sub.add_parser("thesis", help="reproduce the thesis's chapter 3: the dual VAE on "
                                           "X90, X50 and X90_20, figures 3.1–3.6, separation")
    thesis.add_argument("--datasets", nargs="+", default=["X90", "X50", "X90_20"],
                        choices=["X90", "X50", "X90_20"],
                        help="the data sets, trained one after another (default all three)")
    thesis.add_argument("--epochs", type=whole(1), default=None,
                        help="epochs per data set (default 30, the thesis's; --quick runs 2)")
    thesis.add_argument("--lr", type=real(0.0), default=1e-3,
                        help="Adam's learning rate (default %(default)s, our reading: the thesis "
                             "gives none; at 1e-3, 30 epochs are mid-climb)")
    thesis.add_argument("--seed", type=seed, default=0, help=SEED_HELP)
    thesis.add_argument("--quick", action="store_true",
                        help="256 images and 2 epochs per data set, into runs/thesis-quick: a "
                             "check that all runs (default: off)")
    thesis.add_argument("--interaction", choices=["both", "fg-only", "bg-only", "none"],
                        default="both", help="which decoders see the interaction layer's output "
                                             "(fg-only cuts it from the background decoder) "
                                             "(default %(default)s)")
    thesis.add_argument("--weight-on", choices=["elbo", "reconstruction"], default="elbo",
                        help="the ELBO2 weight 450 multiplies the whole ELBO2 or its "
                             "reconstruction term only (default %(default)s)")
    thesis.add_argument("--oversample", type=whole(1), default=1, metavar="N",
                        help="repeat the images without active background this many times "
                             "(default %(default)s)")
    thesis.add_argument("--data-mode", choices=["binary", "grey"], default="binary",
                        help="binary: the thesis's binarized images and a Bernoulli decoder 1; "
                             "grey: the raw grey images and a Gaussian decoder 1 with a learned "
                             "noise level (thesis §3.3) (default %(default)s)")
    thesis.add_argument("--latent1", type=whole(1), default=4, metavar="N",
                        help="dimensions of z1, the foreground code (default %(default)s)")
    thesis.add_argument("--latent2", type=whole(1), default=1, metavar="N",
                        help="dimensions of z2, the background code (default %(default)s)")
    thesis.add_argument("--decoder1", choices=["plain", "structured"], default="plain",
                        help="structured: decoder 1 = foreground decoder + a full-resolution "
                             "background map decoded from z2 (default %(default)s)")
    thesis.add_argument("--free-bits2", type=real(0.0, low_open=False), default=0.0, metavar="NATS",
                        help="free bits for z2: its KL costs nothing below NATS per dimension "
                             "(default 0, off)")
    thesis.add_argument("--decorrelate", type=real(0.0, low_open=False), default=0.0,
                        metavar="GAMMA", help="add GAMMA · ||Cov(mu1, mu2)||² over each batch to "
                                              "the loss (default 0, off)")
    thesis.add_argument("--out", type=folder, default=None,
                        help="output folder (default runs/thesis, or runs/thesis-quick with --quick)")
    thesis.add_argument("--resume", action="store_true", help=RESUME_HELP.replace(
        "--epochs may grow", "--epochs may grow, --datasets may change"))
    thesis.add_argument("--force", action="store_true", help=FORCE_HELP)
    thesis.add_argument("--backend", choices=BACKENDS, default=None, help=BACKEND_HELP)
    thesis.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    thesis.add_argument("--blas-threads", type=whole(1), default=1, metavar="N",
                        help=BLAS_HELP % "1, as for the tables in docs/thesis.md")

    bench = sub.add_parser("bench", help="time one training epoch of the dual VAE and of an "
                                         "MLP VAE on each backend: s/epoch, GFLOP/s, memory")
    bench.add_argument("--models", default="dual,mlp",
                       help="comma list of dual, mlp (default %(default)s)")
    bench.add_argument("--backends", default=None,
                       help="comma list of numpy, numba, cupy (default: every one that loads; "
                            "one that cannot is reported with the reason)")
    bench.add_argument("--epochs", type=whole(1), default=None,
                       help="timed epochs; the median is reported (default 3, 1 with --quick)")
    bench.add_argument("--quick", action="store_true",
                       help="256 dual and 512 MLP images, 1 epoch: a check that all runs "
                            "(default: off)")
    bench.add_argument("--json", default=None, metavar="PATH",
                       help="also write the figures as JSON to PATH (default: none)")
    bench.add_argument("--batch-size", type=whole(1), default=None, metavar="N",
                       help="the batch size of every model (default: each model's own, 32 dual, 128 mlp)")
    bench.add_argument("--seed", type=seed, default=0, help=SEED_HELP)
    bench.add_argument("--blas-threads", type=whole(1), default=None, metavar="N",
                       help=BLAS_HELP % "as OpenBLAS chose")
    return parser, sub.choices


def main(argv=None):
    parser, commands = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    command = commands[args.command]
    _check_modes(args, command)
    if getattr(args, "blas_threads", None) is None:
        return _interruptible(args, command)
    # before a backend loads: the Numba backend chooses how its threads wait from it
    from ..backend.blas_threads import set_blas_threads
    previous = set_blas_threads(args.blas_threads)
    try:
        return _interruptible(args, command)
    finally:                                     # a caller in the same process gets its own back
        if previous is not None:
            set_blas_threads(previous)


def _check_modes(args, command):
    """Options that would be ignored in the chosen mode are refused, not ignored."""
    if args.command == "train":
        if args.decoder_var is not None and args.likelihood != "gaussian":
            command.error(f"--decoder-var: applies to --likelihood gaussian only, got it with "
                          f"--likelihood {args.likelihood}")
        if args.hidden is not None and args.model != "mlp":
            command.error(f"--hidden: applies to --model mlp only, got it with --model {args.model}")
        for given, option in ((args.data_dir is not None, "--data-dir"), (args.download, "--download")):
            if given and args.data != "mnist":
                command.error(f"{option}: applies to --data mnist only, got it with --data {args.data}")
    if args.command == "thesis":
        if args.quick and args.epochs is not None:
            command.error(f"--epochs: --quick runs 2 epochs, got --epochs {args.epochs} too; "
                          f"drop one of the two")
    if getattr(args, "resume", False) and args.force:
        command.error("--resume and --force: expected one of them, got both")
    if args.command == "bench" and args.json is not None:
        if os.path.isdir(args.json):
            command.error(f"--json: expected a file path, got the folder {args.json!r}")
        try:                                 # its folder, before the bench has run
            folder(os.path.dirname(args.json) or ".")
        except argparse.ArgumentTypeError as error:
            command.error(f"--json: {error}")
    if getattr(args, "backend", "") is None and args.command in ("demo", "train", "thesis"):
        args.backend = os.environ.get("VAE_BACKEND", "").strip() or "auto"
        if args.backend not in BACKENDS:
            command.error(f"$VAE_BACKEND: expected one of {', '.join(BACKENDS)}, got {args.backend!r}")


def _interruptible(args, command):
    """Run the command; Ctrl-C is one line and exit code 130, a user's error one line."""
    from ..train import DivergenceError
    from ..run_folder import RunFolderError
    try:
        return _run(args)
    except RunFolderError as error:             # the folder, or --resume's options
        print(f"{command.prog}: error: {error}", file=sys.stderr)
        return 2
    except (ValueError, OSError, ImportError, DivergenceError) as error:
        # errors a user can act on (missing files, no network, a bad checkpoint, a
        # missing extra, divergence): the message, not a traceback
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as error:
        print(_interrupted(args, error), file=sys.stderr)
        return INTERRUPTED


def _interrupted(args, error):
    """The one line Ctrl-C leaves: where the run stopped and how to continue it."""
    resumable = args.command in ("train", "thesis")
    where = f" in {error.part}" if getattr(error, "part", None) else ""
    if getattr(error, "epoch", None):
        return f"interrupted{where} after epoch {error.epoch}; continue with --resume"
    if resumable and getattr(error, "part", None):
        return f"interrupted{where} before its first checkpoint; continue with --resume"
    return "interrupted" + ("; nothing to resume yet, run the command again" if resumable else "")


def _run(args):
    if args.command in ("demo", "train", "thesis"):
        from ..backend import BackendUnavailable, get_backend
        try:
            get_backend(args.backend)
        except BackendUnavailable as error:            # cannot run here (not installed, no GPU)
            print(f"error: {error}", file=sys.stderr)
            return 1
    if args.command == "demo":
        from .demo import run
        run(steps=args.steps, seed=args.seed, out_dir=args.out, backend=args.backend)
        return 0
    if args.command == "train":
        from .train_command import train_vae
        train_vae(args.data, args.model, args.likelihood, latent_dim=args.latent_dim,
                  hidden=args.hidden, epochs=args.epochs, batch_size=args.batch_size,
                  lr=args.lr, anneal_steps=args.anneal_steps, seed=args.seed,
                  iwae_k=args.iwae_k, out_dir=args.out, data_dir=args.data_dir,
                  download=args.download, resume=args.resume, force=args.force,
                  backend=args.backend, quiet=args.quiet,
                  decoder_var=0.1 if args.decoder_var is None else args.decoder_var)
        return 0
    if args.command == "thesis":
        from ..thesis.reproduction import run_thesis
        out = args.out or ("runs/thesis-quick" if args.quick else "runs/thesis")
        run_thesis(args.datasets, out, quick=args.quick,
                   epochs=args.epochs, seed=args.seed,
                   backend=args.backend, quiet=args.quiet, resume=args.resume, force=args.force,
                   interaction=args.interaction, weight_on=args.weight_on,
                   oversample=args.oversample, data_mode=args.data_mode, latent1=args.latent1,
                   latent2=args.latent2, decoder1=args.decoder1, free_bits2=args.free_bits2,
                   decorrelate=args.decorrelate, lr=args.lr)
        return 0
    if args.command == "bench":
        from .bench import run_bench
        try:
            records = run_bench(args.models, args.backends, epochs=args.epochs,
                                quick=args.quick, json_path=args.json, seed=args.seed,
                                batch_size=args.batch_size)
        except ValueError as error:          # an unknown model or backend name: a usage error
            print(f"error: {error}", file=sys.stderr)
            return 2
        return 0 if records else 1           # 1: no backend could be loaded
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
