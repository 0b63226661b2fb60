"""Similarity ranking on the test suite's corpus: where the planted copy lands under each ranking rule, and the time.

    python benchmarks/similarity_ranking.py            # seeds 0-2, 25 students; then 300 students for the time

The corpus (tests/autograde/similarity_corpus.py): 23 honest students in 3 common styles and one renamed,
reformatted, reordered copy. Rules, all on the same copydetect fingerprints with the release and the notebook's
suggested lines removed as boilerplate:

- ``jaccard``: plain Jaccard similarity (fingerprints in more than half the class dropped, pairs by Jaccard);
- ``copydetect``: copydetect's own measure (share of each file's code in a match; its report shows >= 0.33);
- ``kit``: the kit's rule (``grader.autograde.similarity.compare``: rare shared code, 1/(n-1) per fingerprint).
"""
from __future__ import annotations

import itertools
import time
from collections import Counter

from grader.autograde.similarity import SimilarityConfig, _fingerprint, boilerplate_hashes, compare

import test_modules  # tests/ corpora, loaded from their files (benchmarks/test_modules.py)


_corpus = test_modules.load("autograde/similarity_corpus.py")
RELEASE_CELL, SUGGESTED, corpus = _corpus.RELEASE_CELL, _corpus.SUGGESTED, _corpus.corpus

BOILER = [RELEASE_CELL, *SUGGESTED]


def _honest(pair) -> bool:
    return not (pair[0].startswith("p") and pair[1].startswith("p"))


def rank_jaccard(codes: dict, cfg: SimilarityConfig) -> list[tuple[tuple, float]]:
    boiler = boilerplate_hashes(BOILER, cfg)
    sets = {s: set(_fingerprint(c, cfg).hashes) - boiler for s, c in codes.items()}
    df = Counter(h for f in sets.values() for h in f)
    sets = {s: {h for h in f if df[h] <= max(2, 0.5 * len(sets))} for s, f in sets.items()}
    out = [((a, b), len(sets[a] & sets[b]) / max(1, len(sets[a] | sets[b])))
           for a, b in itertools.combinations(sorted(sets), 2)]
    return sorted(out, key=lambda kv: -kv[1])


def rank_copydetect(codes: dict, cfg: SimilarityConfig) -> list[tuple[tuple, float]]:
    import numpy as np
    from copydetect.detector import compare_files
    boiler = np.array(sorted(boilerplate_hashes(BOILER, cfg)), dtype=np.int64)
    fps = {s: _fingerprint(c, cfg, boiler) for s, c in codes.items()}
    out = []
    for a, b in itertools.combinations(sorted(fps), 2):
        _, (sa, sb), _ = compare_files(fps[a], fps[b])
        out.append(((a, b), float(max(sa, sb))))
    return sorted(out, key=lambda kv: -kv[1])


def rank_kit(codes: dict, cfg: SimilarityConfig) -> list[tuple[tuple, float]]:
    pairs, _, _ = compare(codes, cfg, BOILER)
    return [((p.a, p.b), p.score) for p in pairs]


def main() -> int:
    cfg = SimilarityConfig()
    print(f"{'seed':>4} {'rule':>10} {'copy rank':>9} {'copy':>8} {'best honest':>11} {'ratio':>6} "
          f"{'honest >= 0.99':>14} {'honest >= 0.33':>14} {'flagged honest':>14}")
    for seed in range(3):
        codes = corpus(seed=seed)
        for name, rule in (("jaccard", rank_jaccard), ("copydetect", rank_copydetect), ("kit", rank_kit)):
            ranked = rule(codes, cfg)
            rank = next(i for i, (p, _) in enumerate(ranked, 1) if not _honest(p))
            copy = next(v for p, v in ranked if not _honest(p))
            honest = [v for p, v in ranked if _honest(p)]
            flagged = sum(p.flagged for p in compare(codes, cfg, BOILER)[0] if _honest((p.a, p.b))) \
                if name == "kit" else "-"
            print(f"{seed:>4} {name:>10} {rank:>9} {copy:>8.2f} {max(honest):>11.2f} {copy / max(honest):>6.1f} "
                  f"{sum(v >= 0.99 for v in honest) if name != 'kit' else '-':>14} "
                  f"{sum(v >= 0.33 for v in honest) if name != 'kit' else '-':>14} {flagged:>14}")
    codes = corpus(n_honest=298)
    compare(dict(list(codes.items())[:2]), cfg)                 # lexer loaded before timing
    t = time.perf_counter()
    pairs, _, _ = compare(codes, cfg, BOILER)
    print(f"300 students: {time.perf_counter() - t:.2f} s; flagged pairs {[(p.a, p.b) for p in pairs if p.flagged]}; "
          f"best honest score {max(p.score for p in pairs if _honest((p.a, p.b))):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
