"""The separation study: the dual VAE's variants × data sets × seeds, and their table.

    python scripts/separation_study.py run   [--variants A,B] [--seeds 0 1 2] [--jobs 2]
    python scripts/separation_study.py table [--variants A,B] [--datasets ...]

`run` calls `python -m vae_from_scratch thesis` once per (variant, seed, data set), each
with its own output folder runs/study/<variant>/seed<S>/<data set>/ (the thesis writes
its figures and metrics.json into <data set>/ below it), skips those that finished and
continues an interrupted one with --resume.  With --jobs 2 two runs share the two
cores, each with one Numba and one BLAS thread.  `table` reads the metrics.json files
and prints, per variant and data set, the mean ± s.d. over the seeds found.

The variants are the thesis's remedies (§3.3) one at a time, the combinations that
matter, and the attempts at a latent separation (VARIANTS below: the command-line
options of `thesis` for each).
"""

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from vae_from_scratch.apps.options import Parser, folder, whole
from vae_from_scratch.apps.options import seed as seed_number
from vae_from_scratch.utils import mean_sd

BEST = ["--data-mode", "grey", "--latent1", "16", "--decoder1", "structured",
        "--weight-on", "reconstruction"]
VARIANTS = {
    # the thesis's run and its options, one at a time
    "baseline": [],
    "fg-only": ["--interaction", "fg-only"],
    "weight-rec": ["--weight-on", "reconstruction"],
    "oversample4": ["--oversample", "4"],
    "latent16": ["--latent1", "16"],
    "grey": ["--data-mode", "grey"],
    "structured": ["--decoder1", "structured"],
    # combinations
    "grey-latent16": ["--data-mode", "grey", "--latent1", "16"],
    "structured-rec": ["--decoder1", "structured", "--weight-on", "reconstruction"],
    "best": BEST,
    # attempts at a latent separation (z1 blind to the disks)
    "best-no-int1": BEST + ["--interaction", "bg-only"],
    "best-no-int": BEST + ["--interaction", "none"],
    "best-free-bits": ["--data-mode", "grey", "--latent1", "16", "--decoder1", "structured",
                       "--interaction", "none", "--free-bits2", "1.0"],
    "best-no-int-decor": BEST + ["--interaction", "none", "--decorrelate", "100"],
    "best-decor10": BEST + ["--decorrelate", "10"],
    "best-no-int-decor10": BEST + ["--interaction", "none", "--decorrelate", "10"],
}
# The same at learning rate 3e-3, where 30 epochs reach the plateau (at 1e-3 they are
# mid-climb): "<variant>-lr3".
for _name in list(VARIANTS):
    VARIANTS[f"{_name}-lr3"] = VARIANTS[_name] + ["--lr", "3e-3"]
# X90_20 has two disks: the grey structured variants give it a two-dimensional z2
LATENT2_FOR = {"X90_20": 2}
TWO_DISK_VARIANTS = tuple(v for v in VARIANTS if v.startswith("best"))
DATASETS = ("X90", "X50", "X90_20")


def command(variant, seed, dataset, out, epochs, quick, resume=False):
    """The thesis command of one run (--quick sets its own epochs)."""
    options = list(VARIANTS[variant])
    if variant in TWO_DISK_VARIANTS and dataset in LATENT2_FOR:
        options += ["--latent2", str(LATENT2_FOR[dataset])]
    return ([sys.executable, "-m", "vae_from_scratch", "thesis", "--datasets", dataset,
             "--seed", str(seed), "--out", str(out), "--quiet"]
            + (["--resume"] if resume else []) + (["--quick"] if quick else ["--epochs", str(epochs)])
            + options)


def metrics_path(root, variant, seed, dataset):
    """Where one run's metrics.json lands: the run's folder, then the data set's."""
    return Path(root) / variant / f"seed{seed}" / dataset / dataset / "metrics.json"


def run(args):
    jobs = []
    for variant in args.variants:
        for seed in args.seeds:
            for dataset in args.datasets:
                if not metrics_path(args.out, variant, seed, dataset).exists():
                    jobs.append((variant, seed, dataset,
                                 Path(args.out) / variant / f"seed{seed}" / dataset))
    env = dict(os.environ)
    if args.jobs > 1:                        # the runs share the cores: one thread each
        env["NUMBA_NUM_THREADS"] = "1"
    print(f"{len(jobs)} runs to do, {args.jobs} at a time")

    def one(job):
        variant, seed, dataset, out = job
        cmd = command(variant, seed, dataset, out, args.epochs, args.quick,
                      resume=(out / "run.json").exists())
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        status = "ok" if done.returncode == 0 else f"FAILED ({done.returncode}): {done.stderr[-400:]}"
        print(f"{variant} seed {seed} {dataset}: {status}", flush=True)
        return done.returncode

    with ThreadPoolExecutor(args.jobs) as pool:
        codes = list(pool.map(one, jobs))
    return int(any(codes))


ABBREVIATIONS = {"bottom-left": "BL", "top-right": "TR"}
COLUMNS = [  # (column, function of metrics["final"] -> one number, or {disk: number})
    ("ELBO1", lambda f: f["elbo1"]),
    ("cells out", lambda f: f["cells"]["outside"]["accuracy"]),
    ("in, bg on", lambda f: f["cells"]["inside_bg_on"]["accuracy"]),
    ("AUC bg on", lambda f: f["cells"]["inside_bg_on"]["auc"]),
    ("in, bg off", lambda f: f["cells"]["inside_bg_off"]["accuracy"]),
    ("disk from z1 (kNN)", lambda f: {d: p["z1"]["knn"] for d, p in f["probes"]["disks"].items()}),
    ("disk from z1 (linear)", lambda f: {d: p["z1"]["linear"] for d, p in f["probes"]["disks"].items()}),
    ("disk from z2 (kNN)", lambda f: {d: p["z2"]["knn"] for d, p in f["probes"]["disks"].items()}),
    ("disk majority", lambda f: {d: p["majority"] for d, p in f["probes"]["disks"].items()}),
    ("covered cells from z1 (kNN)", lambda f: f["probes"]["cells"]["inside_bg_on"]["z1"]["knn"]),
]


def separated(final, z2_least=0.95, z1_above_majority=0.05, cells_least=0.95,
              z1_probes=("knn",)):
    """The issue's target for a latent separation, on one run: every disk's state from z2
    at >= 0.95 (kNN) and from z1 within 0.05 of the majority guess (by each probe in
    z1_probes: the target names the kNN one), and the cells under an active disk still
    shown at >= 0.95."""
    disks = final["probes"]["disks"].values()
    return bool(all(d["z2"]["knn"] >= z2_least for d in disks)
                and all(d["z1"][probe] <= d["majority"] + z1_above_majority
                        for d in disks for probe in z1_probes)
                and final["cells"]["inside_bg_on"]["accuracy"] >= cells_least)


COLUMNS.append(("separated", separated))
COLUMNS.append(("separated, linear too", lambda f: separated(f, z1_probes=("knn", "linear"))))
COMPACT = ("separated", "separated, linear too", "disk from z1 (linear)", "cells out", "in, bg on",
           "AUC bg on", "in, bg off", "disk from z1 (kNN)", "disk from z2 (kNN)", "disk majority")


def table_lines(root, variants, datasets, compact=False):
    """The Markdown table of every (variant, data set) found under root: mean ± s.d. over
    the seeds (sample s.d., ddof 1); a disk column names each disk of X90_20.
    compact: only the COMPACT columns (the tables of docs/thesis.md)."""
    columns = [(n, get) for n, get in COLUMNS if not compact or n in COMPACT]
    header = ["variant", "data", "seeds"] + [name for name, _ in columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for variant in variants:
        for dataset in datasets:
            runs = sorted(Path(root, variant).glob(f"seed*/{dataset}/{dataset}/metrics.json"))
            if not runs:
                continue
            finals = [json.loads(p.read_text())["final"] for p in runs]
            cells = []
            for name, get in columns:
                digits = 1 if name == "ELBO1" else 3 if "AUC" in name or "in," in name else 2
                values = [get(f) for f in finals]
                if isinstance(values[0], bool):         # how many seeds meet the target
                    cells.append(f"{sum(values)}/{len(values)}")
                elif isinstance(values[0], dict):
                    parts = [(d, [v[d] for v in values]) for d in values[0]]
                    cells.append(" / ".join((f"{ABBREVIATIONS.get(d, d)} " if len(parts) > 1 else "")
                                            + mean_sd(v, digits) for d, v in parts))
                else:
                    cells.append(mean_sd(values, digits))
            lines.append("| " + " | ".join([variant, dataset, str(len(finals))] + cells) + " |")
    return lines


def table(args):
    print("\n".join(table_lines(args.out, args.variants, args.datasets, args.compact)))
    return 0


def main(argv=None):
    parser = Parser(prog="python scripts/separation_study.py", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["run", "table"], help="run the study, or tabulate it")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"comma list of {', '.join(VARIANTS)} (default all)")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS,
                        help="the data sets (default all three)")
    parser.add_argument("--seeds", nargs="+", type=seed_number, default=[0, 1, 2],
                        help="the seeds (default 0 1 2)")
    parser.add_argument("--epochs", type=whole(1), default=30,
                        help="epochs per run (default %(default)s; --quick runs 2)")
    parser.add_argument("--jobs", type=whole(1), default=2, help="runs at a time (default 2)")
    parser.add_argument("--quick", action="store_true",
                        help="pass --quick to every run (default: off)")
    parser.add_argument("--out", type=folder, default="runs/study",
                        help="the study's folder (default %(default)s)")
    parser.add_argument("--compact", action="store_true",
                        help="table: the columns of docs/thesis.md (default: off, all columns)")
    args = parser.parse_args(argv)
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown:
        parser.error(f"--variants: unknown {', '.join(unknown)}; expected some of {', '.join(VARIANTS)}")
    return run(args) if args.action == "run" else table(args)


if __name__ == "__main__":
    sys.exit(main())
