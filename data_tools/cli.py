"""``python -m data_tools``: build, import, preview and verify data sets.

    python -m data_tools build --preset demo --out DIR --answers DIR [--seed S|random] [--public-fraction F]
                               [--private-only-kinds KIND ...] [--kinds-version 1]
    python -m data_tools import npy --src DIR --labels FILE --out DIR --answers DIR
    python -m data_tools import folders --normal DIR --anomalous DIR --out DIR --answers DIR
    python -m data_tools preview --data DIR --answers DIR --out sheet.png
    python -m data_tools verify --data DIR --answers DIR
    python -m data_tools rate sheets --data DIR --answers DIR --out DIR [--per-kind 64] [--normal 16] [--seed S]
    python -m data_tools rate result --sheets DIR
    python -m data_tools refit [--out FILE]

Exit codes (``common.commandline``, the kit's one CLI shape): 0 done, 1 a data problem (a ``KitError``:
``DatasetError``, ``ImageFileError``, ``AnswerKeyError``, ``ConfigKeyError``; or a missing file; printed on
stderr), 2 a usage error. Build options, their defaults and help come from ``BuildConfig``'s fields
(``common.config.add_config_arguments``); ``--mixture`` takes ``kind=share`` items (``build.parse_mixture``).
"""
from __future__ import annotations

import argparse
import secrets
import sys
from pathlib import Path

from common import commandline
from common.errors import KitError

#: (name, target) of every subcommand; targets are imported lazily (``common.commandline``).
COMMANDS: list[tuple[str, str]] = [
    ("build", "data_tools.cli:BuildCommand"),
    ("import", "data_tools.cli:ImportCommand"),
    ("preview", "data_tools.cli:PreviewCommand"),
    ("verify", "data_tools.cli:VerifyCommand"),
    ("rate", "data_tools.cli:RateCommand"),
    ("refit", "data_tools.cli:RefitCommand"),
]
#: A missing or unreadable file is an OSError. (``common.errors`` is light: ``--help`` imports neither numpy nor
#: pandas.)
ERRORS = [((KitError, OSError), commandline.EXIT_ERROR, "error: ")]
#: ``--seed random`` draws below this, from ``common.answer_key.SECRET_SEED_MIN`` up: no one rebuilds the answer
#: key by trying seeds.
SECRET_SEED_END = 1 << 62
#: BuildConfig's size fields: their default is the preset's.
_SIZES = ("n_train", "n_test_normal", "n_test_anomalous")


def _seed(text: str):
    """``--seed``: a non-negative integer, or ``random``."""
    if text == "random":
        return text
    if text.isascii() and text.isdigit():
        return int(text)
    raise argparse.ArgumentTypeError(f"expected a non-negative integer or 'random', got {text!r}")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 data problem, 2 usage error)."""
    return commandline.run_cli(COMMANDS, argv, prog="python -m data_tools", description=__doc__.split("\n\n")[0],
                               errors=ERRORS)


class BuildCommand:
    """Generate a data set from the face generator and the anomaly kinds.

    Writes trainingset.npy/testingset.npy (--out, for students) and solution.csv/manifest.json (--answers, TA only).
    """

    @staticmethod
    def add_arguments(b: argparse.ArgumentParser) -> None:
        from common.answer_key import SECRET_SEED_MIN
        from common.config import add_config_arguments
        from data_tools.build import PRESETS, BuildConfig  # imports torch (~1-2 s): only `build` needs it

        b.add_argument("--preset", choices=list(PRESETS), default=BuildConfig.preset,
                       help="size preset: " + "; ".join(f"{k}: {v['n_train']} train, {v['n_test_normal']}+"
                                                        f"{v['n_test_anomalous']} test" for k, v in PRESETS.items())
                            + f" (default: {BuildConfig.preset})")
        b.add_argument("--out", type=Path, help="student-facing directory (default: .cache/data/<preset>-<seed>/data, "
                                                "<preset>-<seed>-v1/data with --kinds-version 1)")
        b.add_argument("--answers", type=Path,
                       help="TA-only directory for solution.csv (default: .cache/data/<preset>-<seed>/answers, "
                            "<preset>-<seed>-v1/answers with --kinds-version 1)")
        add_config_arguments(b, BuildConfig, skip=("preset", "mixture", "seed"),
                             shown=dict.fromkeys(_SIZES, "the preset's"))
        b.add_argument("--seed", type=_seed, default=BuildConfig.seed,
                       help="build seed: every random stream (train, test normals, each kind, shuffle, split) derives "
                            "from it; the same seed gives the same answer key to anyone with the kit. 'random': a "
                            f"secret one (from {SECRET_SEED_MIN:,} up; kept in manifest.json only), for a term's "
                            f"data (needs --out and --answers) (default: {BuildConfig.seed})")
        b.add_argument("--mixture", nargs="+", metavar="KIND=SHARE",
                       help="kind=share items, separated by commas or spaces: "
                            + BuildConfig.__dataclass_fields__["mixture"].metadata["help"])
        b.add_argument("--no-progress", action="store_true", help="no progress bar")

    @staticmethod
    def run(args) -> int:
        from common.answer_key import SECRET_SEED_MIN
        from common.config import config_overrides
        from data_tools.build import BuildConfig, build_dataset, cache_paths, parse_mixture

        overrides = config_overrides(args, BuildConfig)
        preset = overrides.pop("preset")
        secret = args.seed == "random"
        if secret:
            if args.out is None or args.answers is None:
                print("error: --seed random needs --out and --answers (the default folders are named after the "
                      "seed)", file=sys.stderr)
                return commandline.EXIT_USAGE
            overrides["seed"] = SECRET_SEED_MIN + secrets.randbelow(SECRET_SEED_END - SECRET_SEED_MIN)
        if "mixture" in overrides:
            overrides["mixture"] = parse_mixture(overrides["mixture"])
        config = BuildConfig.from_preset(preset, **overrides)
        default = cache_paths(config.preset, config.seed, config.kinds_version)
        result = build_dataset(config, args.out or default.data, args.answers or default.answers,
                               progress=not args.no_progress)
        m = result.manifest
        version = f", kinds version {m['kinds_version']}"
        seed = "a secret seed, in manifest.json" if secret else f"seed {m['seed']}"
        print(f"built {m['preset']} ({seed}{version}): {m['counts']['train']} train, "
              f"{m['counts']['test']} test "
              f"in {m['build_time_s']} s ({m['faces_per_s']} faces/s)")
        print(f"  data:    {result.paths.data}\n  answers: {result.paths.answers}")
        return 0


class ImportCommand:
    """Import real data (the course's .npy files or folders of images)."""

    @staticmethod
    def add_arguments(imp: argparse.ArgumentParser) -> None:
        from data_tools.splits import DEFAULT_PUBLIC_FRACTION

        isub = imp.add_subparsers(dest="source", required=True, metavar="SOURCE",
                                  parser_class=commandline.Parser)
        n = isub.add_parser("npy", help="the course's trainingset.npy/testingset.npy plus a labels CSV",
                            description="Copy trainingset.npy/testingset.npy from --src (or --src/data) into --out "
                                        "and write solution.csv from --labels (CSV: ID,label[,kind]).")
        n.add_argument("--src", type=Path, required=True, help="directory with trainingset.npy and testingset.npy")
        n.add_argument("--labels", type=Path, required=True, help="CSV with columns ID,label and optional kind")
        fo = isub.add_parser("folders", help="folders of image files (any format PIL reads)",
                             description="Normal images -> training set plus a held-out normal share of the test "
                                         "set; anomalous images (subfolders = kinds) -> anomalous test rows. Images "
                                         "are centre-cropped and resized to 64x64 RGB.")
        fo.add_argument("--normal", type=Path, required=True, help="folder of normal images")
        fo.add_argument("--anomalous", type=Path, required=True, help="folder of anomalous images")
        fo.add_argument("--test-normal", type=int, default=None,
                        help="normal images held out for the test set (default: min(#anomalous, #normal // 2))")
        fo.add_argument("--skip-unreadable", action="store_true",
                        help="skip files that are not readable images (listed in the manifest) instead of failing")
        for p in (n, fo):
            p.add_argument("--out", type=Path, required=True, help="student-facing directory")
            p.add_argument("--answers", type=Path, required=True, help="TA-only directory for solution.csv")
            p.add_argument("--seed", type=int, default=0, help="seed of the Public/Private split (default: 0)")
            p.add_argument("--public-fraction", type=float, default=DEFAULT_PUBLIC_FRACTION,
                           help=f"share of test rows on the public board (default: {DEFAULT_PUBLIC_FRACTION})")
            p.add_argument("--no-progress", action="store_true", help="no progress bar")

    @staticmethod
    def run(args) -> int:
        from data_tools import importers

        common = dict(out=args.out, answers=args.answers, seed=args.seed, public_fraction=args.public_fraction,
                      progress=not args.no_progress)
        if args.source == "npy":
            result = importers.import_npy(args.src, args.labels, **common)
        else:
            result = importers.import_folders(args.normal, args.anomalous, n_test_normal=args.test_normal,
                                              skip_unreadable=args.skip_unreadable, **common)
        m = result.manifest
        print(f"imported {m['counts']['train']} train, {m['counts']['test']} test "
              f"({m['counts']['test_anomalous']} anomalous) into {result.paths.data}; answers in "
              f"{result.paths.answers}")
        for s in m["source"].get("skipped_unreadable") or []:
            print(f"  skipped: {s}", file=sys.stderr)
        return 0


class PreviewCommand:
    """Contact sheet PNG: train, normal test and a row per anomaly kind."""

    @staticmethod
    def add_arguments(pv: argparse.ArgumentParser) -> None:
        pv.add_argument("--data", type=Path, required=True,
                        help="directory with testingset.npy (and trainingset.npy)")
        pv.add_argument("--answers", type=Path, required=True, help="directory with solution.csv")
        pv.add_argument("--out", type=Path, required=True, help="PNG file to write")
        pv.add_argument("--per-row", type=int, default=10, help="images per row (default: 10)")
        pv.add_argument("--seed", type=int, default=0, help="seed choosing the images shown (default: 0)")

    @staticmethod
    def run(args) -> int:
        from data_tools.preview import contact_sheet

        print(contact_sheet(args.data, args.answers, args.out, per_row=args.per_row, seed=args.seed))
        return 0


class VerifyCommand:
    """Check every file against the sha256 in manifest.json."""

    @staticmethod
    def add_arguments(v: argparse.ArgumentParser) -> None:
        v.add_argument("--data", type=Path, required=True, help="student-facing directory")
        v.add_argument("--answers", type=Path, required=True, help="directory with manifest.json")

    @staticmethod
    def run(args) -> int:
        from data_tools.io import DatasetPaths, verify_manifest

        problems = verify_manifest(DatasetPaths(Path(args.data), Path(args.answers)))
        for p in problems:
            print(p, file=sys.stderr)
        if not problems:
            print("all files match manifest.json")
        return 1 if problems else 0


class RateCommand:
    """Blind rating sheets of the near anomaly kinds, and their result (``data_tools.rating``)."""

    @staticmethod
    def add_arguments(r: argparse.ArgumentParser) -> None:
        rsub = r.add_subparsers(dest="step", required=True, metavar="STEP", parser_class=commandline.Parser)
        s = rsub.add_parser("sheets", help="numbered pages, a sheet to fill and a hidden key per kind",
                            description="Per near kind: a seeded sample of its test images mixed with normal test "
                                        "faces, as <kind>-1.png, <kind>-2.png, ... (numbered pages of 16 cells, "
                                        "each image three times its size), <kind>.csv (cell,answer: fill in yes, "
                                        "no or unsure) and key/<kind>.csv (which cells are anomalies: do not open "
                                        "while rating).")
        s.add_argument("--data", type=Path, required=True, help="directory with testingset.npy")
        s.add_argument("--answers", type=Path, required=True, help="directory with solution.csv")
        s.add_argument("--out", type=Path, required=True, help="directory for the pages, sheets and keys")
        s.add_argument("--kinds", nargs="+", help="kinds to rate (default: every near kind in the data)")
        s.add_argument("--per-kind", type=int, default=64, help="images of each kind (default: 64)")
        s.add_argument("--normal", type=int, default=16, help="normal faces mixed in (default: 16)")
        s.add_argument("--seed", type=int, default=0, help="seed of the sample and its order (default: 0)")
        res = rsub.add_parser("result", help="join the filled sheets with their keys: agreement per kind")
        res.add_argument("--sheets", type=Path, required=True, help="the directory `rate sheets` wrote, filled in")

    @staticmethod
    def run(args) -> int:
        from data_tools import rating

        if args.step == "sheets":
            pages = rating.write_sheets(args.data, args.answers, args.out, kinds=args.kinds, per_kind=args.per_kind,
                                        normal=args.normal, seed=args.seed)
            for kind, paths in pages.items():
                print(f"{', '.join(p.name for p in paths)} in {args.out}  ->  fill {args.out / kind}.csv")
            return 0
        results = rating.read_results(args.sheets)
        print(rating.format_results(results))
        return 0 if all(r.passed for r in results) else 1


class RefitCommand:
    """Fit version 2's selection models again and write the file builds read (``near_v2.FIT_FILE``).

    Run it after changing how version 2 draws its near kinds' candidates or computes their statistics; a change to
    ``near_v2``'s constants or the generator's weights makes builds fit in memory until then.
    """

    @staticmethod
    def add_arguments(r: argparse.ArgumentParser) -> None:
        r.add_argument("--out", type=Path, help="file to write (default: the one builds read, "
                                                "data_tools/near_v2_fit.npz)")

    @staticmethod
    def run(args) -> int:
        import time

        from data_tools import near_v2

        start = time.perf_counter()
        path = near_v2.write_fit(args.out or near_v2.FIT_FILE)
        print(f"fitted version 2's selection in {time.perf_counter() - start:.1f} s: {path}")
        return 0
