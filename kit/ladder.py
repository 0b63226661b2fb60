"""Run the reference stages in order and print the ladder (or format a saved one with --from-json).

For each stage: public and private ROC-AUC, the overall AUC (all rows), AUC per anomaly family (imitable,
semantic) and per kind (all rows) and wall time; then the steps between stages and the check the kit promises:
strictly simple < medium < strong < boss, each step >= ``--min-step`` (0.03) on public AND on private, and
>= ``--min-semantic-step`` (0.02) on the semantic family (the kinds a corruption recipe cannot imitate: a boss must
earn its step on faces, not on the generator's recipes), and where the boss stands against 0.90. Beside the ladder,
never part of its check: the classical detectors (``solutions.classical``: PCA reconstruction error, Mahalanobis and
kNN in PCA space, and Gaussians on region and grid statistics, the shortcuts a stage should beat; ``--no-classical``
skips them), per kind and family as the stages. The ladder is saved as JSON (``--json``,
default ``.cache/solutions/ladder-<preset>.json``) with what it ran on (``data_identity``: the preset and seed, and
the sha256 of the answer key it scored); ``python -m kit calibrate --ladder FILE`` (or ``python -m grader init
--ladder FILE``) writes baselines from it with that source, and ``python -m kit ladder --from-json FILE`` prints it
again without training.

The default anomaly mixture is calibrated from a saved run: each stage's overall AUC is exactly the share-weighted
mean of its per-kind AUCs (same normal rows), so ``--from-json FILE --mixture kind=share ...`` predicts the
ladder under another mixture without training (``mixture_auc``).

The measured ladders (demo and full presets, per kind, with wall times) are in docs/results.md, "Reference
ladder, demo preset" and "Reference ladder, full preset".
Exit code: 0, or 1 with ``--check`` when the ladder is not strict (or on a data error).
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from kit.run import DEFAULT_OUT, add_data_arguments, load_data, set_threads, write_outputs
from starter_code.formats import STAGES

MIN_STEP = 0.03
MIN_SEMANTIC_STEP = 0.02
BOSS_TARGET = 0.90


def score_row(scores, key, seconds: float) -> dict:
    """One row of the ladder: ``public``, ``private``, ``overall`` (all rows), ``by_family`` and ``by_kind`` (all
    rows, each against all normal rows) and ``seconds``."""
    from grader.metrics import roc_auc
    from grader.scoring import auc_by_family, auc_by_kind, score_scores
    s = score_scores(scores, key)
    return {"public": s.public, "private": s.private, "overall": roc_auc(key.labels, scores),
            "by_family": auc_by_family(scores, key), "by_kind": auc_by_kind(scores, key), "seconds": round(seconds, 1)}


def run_ladder(train, test, key, stages=STAGES, *, smoke: bool = False, progress: bool = True,
               out: Path | None = None, classical: bool = True) -> dict:
    """Run ``stages`` on uint8 ``train`` ``(N,64,64,3)`` / ``test`` ``(M,64,64,3)``, score against ``key``.

    Returns ``{"stages": {name: row}, "outside": {name: row}, "n_train", "n_test", ...}`` with rows as
    ``score_row``'s; ``outside`` holds the classical detectors, one row per name in ``classical.METHODS``
    (``classical.pca``, ``.mahalanobis``, ``.knn``, ``.region_gaussian``, ``.grid_gaussian``) unless ``classical``
    is false. With ``out``, each stage's submission and config are written to
    ``out/<stage>/``.
    """
    import torch

    from grader.scoring import score_scores
    from solutions.stages import get_stage
    rows, outside = {}, {}
    for name in stages:
        module = get_stage(name)
        t0 = time.perf_counter()
        result = module.run(train, test, smoke=smoke, progress=progress)
        seconds = time.perf_counter() - t0
        rows[name] = score_row(result.scores, key, seconds)
        if result.parts:
            rows[name]["parts"] = {p: {"public": score_scores(v, key).public, "private": score_scores(v, key).private}
                                   for p, v in result.parts.items()}
        if out is not None:
            write_outputs(result, Path(out) / name, name)
        if progress:
            print(f"  {name}: public {rows[name]['public']:.4f}  private {rows[name]['private']:.4f}  "
                  f"semantic {rows[name]['by_family'].get('semantic', float('nan')):.4f}  ({seconds:.0f} s)",
                  flush=True)
    if classical:
        from solutions import classical as classical_module
        result = classical_module.run(train, test, smoke=smoke, progress=progress)
        for part in classical_module.METHODS:
            outside[f"classical.{part}"] = score_row(result.parts[part], key, result.seconds)
    return {"stages": rows, "outside": outside, "n_train": int(len(train)), "n_test": int(len(test)),
            "smoke": smoke, "torch_threads": torch.get_num_threads(), "machine": platform.machine(),
            "device": "cuda" if torch.cuda.is_available() else "cpu"}


def data_identity(args, where: str) -> dict:
    """What a ladder ran on, for the thresholds' source (``grader.competition.thresholds_from_ladder``): ``data``
    (``where``, as printed), ``preset`` and ``seed`` for a preset build, and ``answers_sha256``, the answer key it
    scored (the competition's key must be that file for the thresholds to fit it)."""
    from data_tools.build import cache_paths
    from grader.competition import file_sha256
    answers = args.answers if args.answers is not None else cache_paths(args.preset, args.seed).answers
    out = {"data": where, "answers_sha256": file_sha256(Path(answers) / "solution.csv")}
    if args.data is None:
        out.update(preset=args.preset, seed=args.seed)
    return out


def check_ladder(ladder: dict, min_step: float = MIN_STEP, min_semantic_step: float = MIN_SEMANTIC_STEP) -> list[str]:
    """Problems with the ladder (empty when strict): each stage must beat the previous one by ``min_step`` on
    public and on private, and by ``min_semantic_step`` on the semantic family (all rows) where the rows have
    families (ladders saved before families existed have none). Rows ``outside`` the ladder are not checked."""
    problems = []
    names = list(ladder["stages"])
    for lo, hi in zip(names[:-1], names[1:]):
        a, b = ladder["stages"][lo], ladder["stages"][hi]
        for split in ("public", "private"):
            step = b[split] - a[split]
            if not step >= min_step:
                problems.append(f"{hi} beats {lo} by {step:+.4f} on {split} (needs >= {min_step})")
        if "semantic" in a.get("by_family", {}) and "semantic" in b.get("by_family", {}):
            step = b["by_family"]["semantic"] - a["by_family"]["semantic"]
            if not step >= min_semantic_step:
                problems.append(f"{hi} beats {lo} by {step:+.4f} on the semantic family "
                                f"(needs >= {min_semantic_step})")
    return problems


def mixture_auc(by_kind: dict[str, float], mixture: dict[str, float]) -> float:
    """The overall AUC (all rows) a stage would get if its anomalies came in the shares ``mixture``.

    AUC is the mean, over anomalous rows, of the fraction of normal rows each one outscores, so over a fixed set of
    normal rows the overall AUC is exactly the share-weighted mean of the per-kind AUCs. That is how the default
    mixture (``data_tools.anomalies.DEFAULT_MIXTURE``) is calibrated from one ladder run without retraining.
    Shares are renormalised over the kinds given; a kind with a share but no AUC in ``by_kind`` raises
    ``ValueError``.
    """
    weights = {k: float(w) for k, w in mixture.items() if w > 0}
    missing = sorted(set(weights) - set(by_kind))
    if missing:
        raise ValueError(f"no per-kind AUC for {', '.join(missing)} (kinds measured: {', '.join(sorted(by_kind))})")
    total = sum(weights.values())
    if total <= 0:
        raise ValueError("mixture: no kind has a positive share")
    return sum(w * by_kind[k] for k, w in weights.items()) / total


def format_table(ladder: dict) -> str:
    """Markdown table: one row per stage (public, private, overall, AUC per family, wall time, then AUC per kind),
    then the rows outside the ladder (classical detectors, the ceiling), their names in parentheses."""
    from common.answer_key import FAMILIES
    rows = {**ladder["stages"], **{f"({n})": r for n, r in ladder.get("outside", {}).items()}}
    kinds = sorted({k for row in rows.values() for k in row["by_kind"]})

    def cell(row, *path, digits=3):
        v = row
        for p in path:
            v = v.get(p) if isinstance(v, dict) else None
        return "" if v is None else f"{v:.{digits}f}"
    head = ["stage", "public", "private", "overall", *FAMILIES, "seconds", *kinds]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, row in rows.items():
        cells = [name, cell(row, "public", digits=4), cell(row, "private", digits=4), cell(row, "overall", digits=4),
                 *(cell(row, "by_family", f) for f in FAMILIES), f"{row['seconds']:.0f}",
                 *(cell(row, "by_kind", k) for k in kinds)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def steps_table(ladder: dict) -> str:
    """Markdown table of the AUC step from each stage to the next, on public, private and (where the rows have
    families) each family."""
    from common.answer_key import FAMILIES
    names = list(ladder["stages"])
    fams = [f for f in FAMILIES if all(f in r.get("by_family", {}) for r in ladder["stages"].values())]
    rows = ["| step | public | private |" + "".join(f" {f} |" for f in fams), "|---|---|---|" + "---|" * len(fams)]
    for lo, hi in zip(names[:-1], names[1:]):
        a, b = ladder["stages"][lo], ladder["stages"][hi]
        rows.append(f"| {lo} -> {hi} | {b['public'] - a['public']:+.4f} | {b['private'] - a['private']:+.4f} |"
                    + "".join(f" {b['by_family'][f] - a['by_family'][f]:+.4f} |" for f in fams))
    return "\n".join(rows)


def report(ladder: dict, min_step: float = MIN_STEP, min_semantic_step: float = MIN_SEMANTIC_STEP) -> str:
    """The ladder as text: where it ran, the per-kind table, the steps, strictness and the boss's target."""
    lines = [f"data: {ladder.get('data', '?')}  ({ladder.get('n_train')} train / {ladder.get('n_test')} test; "
             f"torch threads {ladder.get('torch_threads')}, device {ladder.get('device')})", "",
             format_table(ladder), "", steps_table(ladder), ""]
    problems = check_ladder(ladder, min_step, min_semantic_step)
    lines.append(f"ladder strict (each step >= {min_step:.2f} on public and private, >= {min_semantic_step:.2f} on "
                 f"the semantic family): {'yes' if not problems else 'NO'}")
    lines += [f"  {p}" for p in problems]
    boss = ladder["stages"].get("boss")
    if boss:
        met = min(boss["public"], boss["private"]) >= BOSS_TARGET
        lines.append(f"boss: public {boss['public']:.4f}, private {boss['private']:.4f} "
                     f"(target {BOSS_TARGET}: {'met' if met else 'not met'})")
        for part, s in boss.get("parts", {}).items():
            lines.append(f"  boss part {part}: public {s['public']:.4f}, private {s['private']:.4f}")
    return "\n".join(lines)


def mixture_table(ladder: dict, mixtures: dict[str, dict[str, float]]) -> str:
    """Markdown table: each stage's overall AUC (all rows) predicted under each named mixture from its per-kind
    AUCs (``mixture_auc``: exact for the same normal rows), with the smallest step between stages."""
    names = list(ladder["stages"])
    rows = ["| mixture | " + " | ".join(names) + " | smallest step |", "|---|" + "---|" * (len(names) + 1)]
    for label, mixture in mixtures.items():
        aucs = [mixture_auc(ladder["stages"][n]["by_kind"], mixture) for n in names]
        step = min((b - a for a, b in zip(aucs[:-1], aucs[1:])), default=float("nan"))
        rows.append(f"| {label} | " + " | ".join(f"{a:.4f}" for a in aucs) + f" | {step:+.4f} |")
    return "\n".join(rows)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_data_arguments(parser)
    parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES, help="stages to run, in order")
    parser.add_argument("--json", type=Path, help="where to save the ladder (default: "
                                                  ".cache/solutions/ladder-<preset>.json)")
    parser.add_argument("--out", type=Path, help="also write each stage's submission to OUT/<stage>/")
    parser.add_argument("--min-step", type=float, default=MIN_STEP, help="required AUC step between stages")
    parser.add_argument("--min-semantic-step", type=float, default=MIN_SEMANTIC_STEP,
                        help="required AUC step between stages on the semantic family")
    parser.add_argument("--no-classical", action="store_true",
                        help="skip the classical detectors reported beside the ladder")
    parser.add_argument("--check", action="store_true", help="exit 1 when the ladder is not strict")
    parser.add_argument("--from-json", type=Path, help="print a saved ladder instead of running one")
    parser.add_argument("--mixture", nargs="+", metavar="KIND=SHARE",
                        help="also predict each stage's overall AUC under this anomaly mixture (and the default "
                             "one) from the per-kind AUCs, without training: how DEFAULT_MIXTURE is calibrated. "
                             "kind=share items separated by spaces or commas, as `python -m data_tools build "
                             "--mixture`; shares are weights (renormalised)")


def run(args) -> int:
    mixture = None
    if args.mixture:
        from data_tools.build import parse_mixture  # the one mixture syntax, shared with `python -m data_tools build`
        mixture = parse_mixture(args.mixture)
    if args.from_json is not None:
        try:
            ladder = json.loads(Path(args.from_json).read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ValueError(f"{args.from_json}: not valid JSON: {e}") from e
    else:
        train, test, key, where = load_data(args)
        if key is None:
            raise ValueError("the ladder needs an answer key: give --answers DIR (or use a preset)")
        set_threads(args.threads)
        print(f"ladder on {where}: {len(train)} training / {len(test)} test images; stages "
              f"{', '.join(args.stages)}", flush=True)
        ladder = run_ladder(train, test, key, args.stages, smoke=args.smoke, progress=not args.no_progress,
                            out=args.out, classical=not args.no_classical)
        ladder.update(data_identity(args, where))
        path = args.json or DEFAULT_OUT / f"ladder-{'smoke' if args.smoke else args.preset}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(ladder, indent=2) + "\n")
        print(f"saved {path}\n")
    print(report(ladder, args.min_step, args.min_semantic_step))
    if mixture is not None:
        from data_tools.anomalies import DEFAULT_MIXTURE
        print("\npredicted overall AUC (all rows) per mixture, from the per-kind AUCs above:\n")
        print(mixture_table(ladder, {"default": DEFAULT_MIXTURE, "given": mixture}))
    return 1 if (args.check and check_ladder(ladder, args.min_step, args.min_semantic_step)) else 0
