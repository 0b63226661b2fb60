"""Train one reference stage (simple, medium, strong, boss) and write its submission.

Data come from ``--data DIR`` (``trainingset.npy``, ``testingset.npy``) or, without it, from the cached build of
``--preset``/``--seed`` (built once under ``.cache/data/``). With an answer key (``--answers DIR``, or the preset's)
the public ROC-AUC is printed (``--reveal`` adds the private one). Everything lands in ``--out`` (default
``.cache/solutions/<stage>-<preset>``): ``prediction.csv``, ``config.json`` (the resolved stage config) and
``result.json`` (AUCs, seconds, loss history). ``--set KEY=VALUE`` changes a key of the stage's config
(``--set epochs=3``, ``--set model_kwargs.latent_dim=32``, ``--set classifier.epochs=1``).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from starter_code.formats import STAGES, TEST_FILE, TRAIN_FILE

DEFAULT_OUT = Path(".cache/solutions")


def parse_value(text: str):
    """``--set`` values: JSON where it parses (numbers, lists, true/false), else the plain string."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return text
    return tuple(value) if isinstance(value, list) else value


def parse_overrides(items: list[str] | None) -> dict:
    """``["epochs=3", "model_kwargs.encoders=[\\"fc\\"]"]`` -> ``{"epochs": 3, "model_kwargs.encoders": ("fc",)}``
    (dotted keys change one key inside a field: ``Config.replace``)."""
    out = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--set {item!r}: expected KEY=VALUE, e.g. epochs=3")
        out[name.strip()] = parse_value(value)
    return out


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by run, ladder and calibrate: where the data and the answer key come from."""
    parser.add_argument("--preset", default="demo", help="data preset built and cached when --data is not given "
                                                          "(tiny, grading, smoke, demo, full; default: demo)")
    parser.add_argument("--seed", type=int, default=0, help="data build seed of the preset (default: 0)")
    parser.add_argument("--data", type=Path, help="folder with trainingset.npy and testingset.npy")
    parser.add_argument("--answers", type=Path, help="folder with solution.csv (TA only); default: the preset's "
                                                     "when --data is not given")
    parser.add_argument("--smoke", action="store_true",
                        help="smoke mode: each stage's config .smoke() (starter_code.formats.SMOKE; seconds)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def load_data(args):
    """-> (train uint8 (N,64,64,3), test uint8 (M,64,64,3), AnswerKey or None, description)."""
    from common.answer_key import load_answer_key
    from starter_code.formats import load_images
    answers = args.answers
    if args.data is not None:
        data = args.data
    else:
        from data_tools.build import cached_dataset
        paths = cached_dataset(args.preset, seed=args.seed, progress=not args.no_progress)
        data, answers = paths.data, answers or paths.answers
    train, test = load_images(Path(data) / TRAIN_FILE), load_images(Path(data) / TEST_FILE)
    key = load_answer_key(Path(answers) / "solution.csv") if answers is not None else None
    if key is not None and len(key) != len(test):
        raise ValueError(f"{Path(answers) / 'solution.csv'}: {len(key)} rows but {Path(data) / TEST_FILE} "
                         f"has {len(test)} images")
    return train, test, key, (str(data) if args.data is not None else f"preset {args.preset} (seed {args.seed})")


def set_threads(n: int) -> None:
    if n:
        import torch
        torch.set_num_threads(n)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stage", required=True, choices=STAGES, help="which reference solution")
    add_data_arguments(parser)
    parser.add_argument("--out", type=Path, help="output folder (default: .cache/solutions/<stage>-<preset>)")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="change a key of the stage's config (repeatable; JSON values; KEY.SUBKEY for one "
                             "key of model_kwargs or of a nested config)")
    parser.add_argument("--reveal", action="store_true", help="also print the private AUC")


def run(args) -> int:
    from solutions.stages import get_stage
    overrides = parse_overrides(args.set)
    train, test, key, where = load_data(args)
    set_threads(args.threads)
    module = get_stage(args.stage)
    out = args.out or DEFAULT_OUT / f"{args.stage}-{'smoke' if args.smoke else args.preset}"
    print(f"{args.stage}: {len(train)} training / {len(test)} test images from {where}", flush=True)
    t0 = time.perf_counter()
    try:
        result = module.run(train, test, smoke=args.smoke, progress=not args.no_progress, **overrides)
    except TypeError as e:  # a --set value of the wrong kind for the model (e.g. a string for a size)
        raise ValueError(f"--set: {e}") from e
    summary = write_outputs(result, out, args.stage)
    summary["wall_seconds"] = round(time.perf_counter() - t0, 1)
    print(f"wrote {summary['submission']} ({summary['wall_seconds']:.0f} s)")
    if key is not None:
        from grader.scoring import score_scores
        s = score_scores(result.scores, key)
        summary.update(public=s.public, private=s.private)
        print(f"public ROC-AUC {s.public:.4f}" + (f"   private {s.private:.4f}" if args.reveal else ""))
    (Path(out) / "result.json").write_text(json.dumps(summary, indent=2, default=float) + "\n")
    return 0


def write_outputs(result, out: Path, stage: str) -> dict:
    """Write ``prediction.csv`` and ``config.json`` of a ``StageResult`` into ``out``; -> summary dict."""
    from starter_code.submission import write_submission
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sub = write_submission(result.scores, out / "prediction.csv", expected_rows=len(result.scores))
    config = {"stage": stage, **result.config.to_dict()}
    (out / "config.json").write_text(json.dumps(config, indent=2, default=list) + "\n")
    return {"stage": stage, "submission": str(sub), "seconds": round(result.seconds, 1),
            "losses": list(result.history.losses)}
