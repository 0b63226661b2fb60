"""similarity: winnowing over normalised tokens finds renamed/reformatted copies, not independent work."""
from __future__ import annotations

import copy

from grader.autograde.similarity import SimilarityConfig, compare, fingerprints, normalized_tokens
from tests.autograde.conftest import fresh_copy, release_nb

ORIGINAL = '''
def score_images(images):
    x = images.astype("float32") / 255.0
    recon = model_forward(x)
    err = ((recon - x) ** 2).reshape(len(x), -1)
    total = err.sum(axis=1)
    for i in range(len(total)):
        if total[i] < 0:
            total[i] = 0.0
    return np.sqrt(total)
'''
# the same code with other names, comments and layout
DISGUISED = '''
def score_images(imgs):   # my own work
    data = imgs.astype('float32')/255.0

    out = model_forward(data)
    diff = ((out - data)**2).reshape(len(data), -1)
    s = diff.sum(axis=1)
    for j in range(len(s)):
        if s[j] < 0:
            s[j] = 0.0
    return np.sqrt(s)
'''
OTHERS = [
    '''
def score_images(images):
    batch = torch.tensor(images).permute(0, 3, 1, 2).float()
    with torch.no_grad():
        z = encoder(batch)
        out = decoder(z)
    return torch.linalg.norm((out - batch).flatten(1), dim=1).numpy()
''',
    '''
def score_images(images):
    scores = []
    for img in images:
        flat = img.reshape(-1) / 127.5 - 1
        rebuilt = pca.inverse_transform(pca.transform(flat[None]))[0]
        scores.append(float(np.abs(rebuilt - flat).mean()))
    return np.array(scores)
''',
    '''
def score_images(images):
    feats = extract(images)
    d, _ = knn.kneighbors(feats, n_neighbors=5)
    return d.mean(axis=1) + 0.1 * np.log1p(d.max(axis=1))
''',
]


def test_tokens_ignore_names_comments_and_layout():
    assert normalized_tokens(ORIGINAL) == normalized_tokens(DISGUISED)
    assert normalized_tokens("x = 1  # c\n") == ["V", "=", "N"]
    assert normalized_tokens("def f(:\n  'unterminated") != []          # falls back to a regex tokenizer


def test_fingerprints_are_a_winnowed_subset():
    toks = normalized_tokens(ORIGINAL)
    fp = fingerprints(toks, k=8, window=4)
    assert 0 < len(fp) <= len(toks) - 8 + 1
    assert fingerprints(toks[:5], k=8, window=4) == set()


def test_copy_is_flagged_and_independent_work_is_not():
    codes = {"s1": ORIGINAL, "s2": DISGUISED, "s3": OTHERS[0], "s4": OTHERS[1], "s5": OTHERS[2], "s6": "pass"}
    pairs, skipped = compare(codes, SimilarityConfig(threshold=0.3))
    assert [(p.a, p.b) for p in pairs] == [("s1", "s2")]
    assert pairs[0].jaccard == 1.0 and pairs[0].containment == 1.0
    assert skipped == ["s6"]
    # a partial copy: half of s1's code pasted into otherwise different work
    codes["s7"] = OTHERS[2] + "\n" + "\n".join(ORIGINAL.splitlines()[:6])
    pairs, _ = compare(codes, SimilarityConfig(threshold=0.2))
    assert ("s1", "s7") in {(p.a, p.b) for p in pairs}


def test_code_shared_by_most_of_the_class_is_ignored():
    common = "\n".join(f"result_{i} = helper(data, axis={i}, keepdims=True)[{i}]" for i in range(12))
    # students i and i+3 wrote the same own part; everybody has the common part (e.g. given by the notebook's text)
    codes = {f"s{i}": common + "\n" + OTHERS[i % 3] for i in range(6)}
    unfiltered, _ = compare(codes, SimilarityConfig(threshold=0.15, max_share=1.0))
    assert ("s0", "s1") in {(p.a, p.b) for p in unfiltered}
    pairs, _ = compare(codes, SimilarityConfig(threshold=0.15, max_share=0.5))
    assert {(p.a, p.b) for p in pairs} == {("s0", "s3"), ("s1", "s4"), ("s2", "s5")}


def test_similarity_on_submitted_notebooks_and_cli(released_course, tmp_path, capsys):
    import csv

    import nbformat

    from grader.cli import main
    course = fresh_copy(released_course, tmp_path)
    rel = release_nb(course)
    bodies = {"a": ORIGINAL, "b": DISGUISED, "c": OTHERS[0], "d": OTHERS[1], "e": OTHERS[2]}
    for sid, body in bodies.items():
        nb = copy.deepcopy(rel)
        for c in nb.cells:
            if c.metadata.get("nbgrader", {}).get("grade_id") == "squares":
                c.source = body
        path = course.course_dir / "submitted" / sid / "ps1" / "ps1.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(nb, str(path))
    # the untouched release must not match anybody (its stub lines are removed before fingerprinting)
    (course.course_dir / "submitted" / "f" / "ps1").mkdir(parents=True)
    nbformat.write(rel, str(course.course_dir / "submitted" / "f" / "ps1" / "ps1.ipynb"))
    rc = main(["similarity", "--source", str(course.source), "--course", str(course.course_dir),
               "--threshold", "0.4"])
    out = capsys.readouterr().out
    assert rc == 0 and "ps1: 6 students, 1 pair(s)" in out and "a ~ b: jaccard 1.00" in out
    rows = list(csv.DictReader(open(course.course_dir / "similarity_ps1.csv")))
    assert [(r["student_a"], r["student_b"]) for r in rows] == [("a", "b")]
