"""The whole loop on the embedded demo data, as a TA would run it (``make demo``).

    data (demo preset) -> train the course's sample models -> prediction CSVs -> public/private ROC-AUC
    -> leaderboard with the baseline rows -> figures

Everything lands under ``--workdir`` (default ``.cache/demo``, ignored by git); the data set itself is cached under
``.cache/data/<preset>-<seed>/`` and reused when its manifest matches. The models trained here are the course's
sample code (``starter_code``): the conv VAE the sample code ships with (the simple baseline) and its fully
connected autoencoder. Epochs default to fewer than the course's 50 so that the demo stays within ~10 minutes on
2 CPU cores; ``--epochs 50`` reproduces the course's schedule.
"""
from __future__ import annotations

import argparse
import json
import time
from datetime import datetime, timedelta, timezone
from dataclasses import dataclass, field
from pathlib import Path

import solutions
from common.config import Config, add_config_arguments, config_overrides

#: The course's sample models the demo trains (docs/results.md, "The two commands", has their timings on 2 CPU cores).
DEMO_MODELS = ("vae", "fcn")
#: Calibrated baselines per preset (the reference ladder's scores); other data falls back to the course's values.
BASELINES_DIR = Path(solutions.__file__).resolve().parent / "baselines"


@dataclass
class DemoConfig(Config):
    """What the demo builds, trains and writes; ``python -m kit demo`` has one option per field."""
    workdir: Path = field(default=Path(".cache/demo"), metadata={"help": "where submissions, figures and the "
                                                                         "competition config are written"})
    preset: str = field(default="demo", metadata={"help": "data preset (demo: 20,000 train / 4,000 test)"})
    seed: int = field(default=0, metadata={"help": "data build seed"})
    epochs: int = field(default=10, metadata={"help": "training epochs per model (the course uses 50)"})
    models: tuple[str, ...] = field(default=DEMO_MODELS,
                                    metadata={"help": "model types to train (starter_code.models)"})
    data: Path | None = field(default=None, metadata={"help": "use this built or imported data folder instead "
                                                              "of building the preset (needs --answers)"})
    answers: Path | None = field(default=None, metadata={"help": "the TA folder holding solution.csv for --data"})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser, DemoConfig)


def run(args) -> int:
    cfg = DemoConfig.from_dict(config_overrides(args, DemoConfig))
    if (cfg.data is None) != (cfg.answers is None):
        raise ValueError("--data and --answers go together")
    run_demo(cfg)
    return 0


def _step(n: int, total: int, text: str) -> None:
    print(f"\n[{n}/{total}] {text}", flush=True)


def demo_competition(path: Path, solution: Path, cfg: DemoConfig):
    """The demo's competition file: written on the first run (open for two weeks from then; edit the file to change
    it), with the kit's recorded baselines of ``cfg.preset`` (``solutions/baselines/<preset>.toml``) when the demo
    runs on a preset. A later run keeps the file, except baselines it copied from the kit (or wrote before files
    named their thresholds' source) that the kit has since measured again: those follow the kit. -> (the loaded
    config, whether its baselines were updated)."""
    from grader.competition import (CompetitionConfig, ThresholdSource, dump_competition, load_competition,
                                    write_thresholds)
    reference = BASELINES_DIR / f"{cfg.preset}.toml"
    source = ThresholdSource(f"the kit's recorded ladder on preset {cfg.preset} (seed 0): "
                             f"solutions/baselines/{cfg.preset}.toml", cfg.preset, 0)
    kit = load_competition(reference).baselines if cfg.data is None and reference.is_file() else None
    if not path.is_file():
        now = datetime.now(timezone.utc).replace(microsecond=0)
        comp = CompetitionConfig(title=f"HW8 anomaly detection ({cfg.data or cfg.preset} data)",
                                 answers=Path(solution).resolve(), opens_at=now, closes_at=now + timedelta(days=14))
        if kit is not None:   # the reference ladder's scores on this preset, seed 0
            comp.baselines, comp.baselines_source = kit, source
        path.write_text(dump_competition(comp))
    comp = load_competition(path)
    if kit is not None and comp.baselines_source in (source, None) and comp.baselines != kit:
        return write_thresholds(path, kit, source), True
    return comp, False


def run_demo(cfg: DemoConfig, progress: bool = True) -> dict:
    """Run the demo; return a summary dict (also written to ``workdir/summary.json``)."""
    from common.answer_key import load_answer_key
    from data_tools.build import cached_dataset
    from data_tools.io import DatasetPaths
    from data_tools.preview import contact_sheet
    from grader.metrics import roc_auc
    from grader.scoring import auc_by_family, auc_by_kind, format_board, score_file, score_folder
    from starter_code import (TrainConfig, anomaly_scores, build_and_fit, load_images, plot_loss,
                              plot_reconstructions, plot_score_histogram, reconstruct, write_submission)

    t_start = time.perf_counter()
    work = Path(cfg.workdir)
    subs, figs = work / "submissions", work / "figures"
    subs.mkdir(parents=True, exist_ok=True)
    figs.mkdir(parents=True, exist_ok=True)
    total = 5

    t0 = time.perf_counter()
    if cfg.data is not None:
        _step(1, total, f"Data: {cfg.data} (answers in {cfg.answers})")
        paths = DatasetPaths(Path(cfg.data), Path(cfg.answers))
    else:
        _step(1, total, f"Data: the '{cfg.preset}' preset (seed {cfg.seed}), built once and cached")
        paths = cached_dataset(cfg.preset, seed=cfg.seed, progress=progress)
    train, test = load_images(paths.train), load_images(paths.test)
    key = load_answer_key(paths.solution)
    print(f"  students get {paths.data}/ : trainingset.npy {train.shape}, testingset.npy {test.shape}")
    print(f"  TAs keep     {paths.answers}/ : solution.csv (labels, Public/Private split, kind), manifest.json")
    print(f"  ({time.perf_counter() - t0:.1f} s)")

    _step(2, total, f"Train the course's sample models ({', '.join(cfg.models)}), {cfg.epochs} epochs each")
    results = {}
    for model_type in cfg.models:
        tcfg = TrainConfig(model_type=model_type, epochs=cfg.epochs, output_dir=str(work / "runs" / model_type))
        model, history = build_and_fit(train, tcfg, progress=progress)
        scores = anomaly_scores(model, test, batch_size=tcfg.eval_batch_size)
        sub = write_submission(scores, subs / f"sample_{model_type}.csv")
        plot_loss(history, path=figs / f"loss_{model_type}.png", title=f"{model_type}: training loss")
        plot_score_histogram(scores, labels=key.labels, path=figs / f"scores_{model_type}.png")
        plot_reconstructions(test, reconstruct(model, test), scores, k=4, path=figs / f"recon_{model_type}.png")
        results[model_type] = {"submission": str(sub), "scores": scores, "train_seconds": round(history.seconds, 1),
                               "final_loss": history.losses[-1] if history.losses else None}
        print(f"  {model_type}: {history.seconds:.0f} s, {history.images_per_second:.0f} images/s, "
              f"wrote {sub}")

    # One broken file, as students will upload them: the board lists it with its error instead of ranking it.
    broken = subs / "broken_example.csv"
    rows = ["ID,score"] + [f"{i},{0.5}" for i in range(len(test) - 1)] + [f"{len(test) - 1},nan"]
    broken.write_text("\n".join(rows) + "\n")

    _step(3, total, "Score: public and private ROC-AUC against the hidden answer key")
    for model_type, r in results.items():
        s = score_file(r["submission"], key)
        scores = r.pop("scores")
        r.update(public=s.public, private=s.private, overall=roc_auc(key.labels, scores),
                 by_family=auc_by_family(scores, key), by_kind=auc_by_kind(scores, key))
        print(f"  sample_{model_type}: public {s.public:.4f}   private {s.private:.4f}")
        print(f"    all rows {r['overall']:.4f}, per family: "
              + "  ".join(f"{f} {auc:.4f}" for f, auc in r["by_family"].items()))
        print("    per kind (all rows): " + "  ".join(f"{k} {v:.2f}" for k, v in r["by_kind"].items()))

    _step(4, total, "Leaderboard (the baselines are rows too; the broken file is listed, never ranked)")
    comp_path = work / "competition.toml"
    comp, updated = demo_competition(comp_path, paths.solution, cfg)
    if updated:
        print(f"  (baselines updated from solutions/baselines/{cfg.preset}.toml)")
    board = score_folder(subs, key, max_bytes=comp.max_upload_bytes, baselines=comp.baselines.values())
    print(format_board(board, reveal=True, title=comp.title))

    _step(5, total, "Figures")
    contact_sheet(paths.data, paths.answers, figs / "contact_sheet.png")
    for p in sorted(figs.glob("*.png")):
        print(f"  {p}")

    summary = {"preset": cfg.preset, "seed": cfg.seed, "epochs": cfg.epochs, "models": results,
               "seconds": round(time.perf_counter() - t_start, 1)}
    (work / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
    print(f"\nDone in {summary['seconds']:.0f} s. Summary: {work / 'summary.json'}")
    print("Same scoring from the shell:")
    print(f"  .venv/bin/python -m grader score {subs / 'sample_fcn.csv'} --answers {paths.solution} --reveal")
    print(f"  .venv/bin/python -m grader leaderboard {subs} --competition {comp_path} --reveal")
    roster = work / "roster.csv"
    if not roster.is_file():  # three made-up students so the web app has someone to log in as
        roster.write_text("id,name,email\nb11901001,Ada Lovelace,\nb11901002,Alan Turing,\n"
                          "b11901003,Grace Hopper,\n")
    print("Run the leaderboard web app on this competition (the TA token is in the file it names; login links go to tokens.csv):")
    print(f"  .venv/bin/python -m grader serve --competition {comp_path} --roster {roster}")
    return summary
