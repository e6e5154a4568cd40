"""Command line: python -m vae_from_scratch <command> [options]."""

import argparse
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m vae_from_scratch",
                                     description="Variational autoencoders from scratch on NumPy.")
    sub = parser.add_subparsers(dest="command", metavar="command")

    demo = sub.add_parser("demo", help="fit a small MLP by hand-written backpropagation")
    demo.add_argument("--steps", type=int, default=3000, help="SGD steps (default 3000)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument("--out", default="runs/demo", help="folder for the figure (default runs/demo)")
    demo.add_argument("--backend", default=None, help="numpy (default: $VAE_BACKEND or numpy)")

    args = parser.parse_args(argv)
    if args.command == "demo":
        from .demo import run
        run(steps=args.steps, seed=args.seed, out_dir=args.out, backend=args.backend)
        return 0
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
