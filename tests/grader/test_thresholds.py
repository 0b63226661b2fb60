"""Baseline thresholds and where they came from (``grader.competition``): the ``[baselines]`` source keys, the
problems the TA is told about (never set, measured on other data) and the comment-keeping rewrite; and an answer
key anyone can rebuild from its seed."""
import hashlib
import json

import pytest

from grader.competition import (COURSE_2023_BASELINES, RECORDED_LADDERS, ConfigError, answer_key_problems,
                                competition_template, load_competition, read_ladder, recorded_ladder, set_thresholds, threshold_problems,
                                thresholds_from_ladder, write_thresholds)

LADDER = {"stages": {"simple": {"public": 0.61234, "private": 0.60111}, "boss": {"public": 0.95, "private": 0.94}},
          "data": "preset demo (seed 0)", "smoke": False}


def write(tmp_path, text: str, name="competition.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def answer_key(tmp_path, text="ID,label,Usage\n0,0,Public\n1,1,Private\n", manifest=None):
    d = tmp_path / "answers"
    d.mkdir(exist_ok=True)
    (d / "solution.csv").write_text(text)
    if manifest is not None:
        (d / "manifest.json").write_text(json.dumps(manifest))
    return d / "solution.csv"


def test_the_template_holds_placeholders_that_count_as_never_set(tmp_path):
    cfg = load_competition(write(tmp_path, competition_template()))
    assert cfg.baselines_source is None
    assert {n: b.public for n, b in cfg.baselines.items()} == COURSE_2023_BASELINES
    (problem,) = threshold_problems(cfg)
    assert "course's 2023 figures" in problem and "python -m kit calibrate" in problem
    # Figures edited by hand without saying where they came from are not trusted either.
    text = competition_template().replace("public = 0.535", "public = 0.6")
    (problem,) = threshold_problems(load_competition(write(tmp_path, text)))
    assert "no recorded source" in problem


def test_rewriting_keeps_comments_and_records_the_source(tmp_path):
    text = "# our course's note\n" + competition_template().replace("daily_limit = 5", "daily_limit = 3  # 3 a day")
    baselines, src, warnings = thresholds_from_ladder(LADDER, "term/ladder.json")
    assert warnings == [] and (src.preset, src.seed, src.answers_sha256) == ("demo", 0, "")
    cfg = write_thresholds(write(tmp_path, text), baselines, src)
    out = (tmp_path / "competition.toml").read_text()
    assert out.startswith("# our course's note\n") and "daily_limit = 3  # 3 a day" in out
    assert "# Thresholds per baseline" in out and "# Login attempts" in out
    assert cfg.daily_limit == 3 and list(cfg.baselines) == ["simple", "boss"]    # the ladder's stages only
    assert (cfg.baselines["simple"].public, cfg.baselines["simple"].private) == (0.6123, 0.6011)
    assert cfg.baselines_source.source == "kit ladder term/ladder.json on preset demo (seed 0)"
    # Again with another ladder: the source is replaced, not duplicated (a TOML key may appear once).
    other = {"stages": {"simple": {"public": 0.7, "private": 0.7}}, "data": "data/", "answers_sha256": "a" * 64}
    cfg = write_thresholds(tmp_path / "competition.toml", *thresholds_from_ladder(other, "l2.json")[:2])
    assert (cfg.baselines_source.preset, cfg.baselines_source.seed, cfg.baselines_source.answers_sha256) == \
        ("", None, "a" * 64)
    assert list(cfg.baselines) == ["simple"] and "# our course's note" in (tmp_path / "competition.toml").read_text()


def test_a_file_without_a_baselines_table_gets_one():
    baselines, src, _ = thresholds_from_ladder(LADDER, "l.json")
    text = set_thresholds('title = "T"  # mine\n', baselines, src)
    assert text.startswith('title = "T"  # mine\n') and '[baselines]\nsource = "kit ladder l.json' in text


@pytest.mark.parametrize("table, message", [
    ('source = 3', "[baselines] source must be a string"),
    ('preset = "demo"\nseed = 0', "[baselines] needs source"),
    ('source = "s"\nseed = -1\npreset = "demo"', "seed must be a non-negative integer"),
    ('source = "s"\npreset = "demo"', "preset and seed go together"),
    ('source = "s"\nanswers_sha256 = "abc"', "answers_sha256 must be 64 lowercase hex digits"),
    ('source = "s"\nsimple = "high"', "[baselines.simple] needs public"),
])
def test_bad_source_keys_name_the_file_and_key(tmp_path, table, message):
    p = write(tmp_path, f'title = "T"\n[baselines]\n{table}\n')
    with pytest.raises(ConfigError) as e:
        load_competition(p)
    assert str(p) in str(e.value) and message in str(e.value)


def test_thresholds_measured_on_other_data_are_reported(tmp_path):
    key = answer_key(tmp_path)
    sha = hashlib.sha256(key.read_bytes()).hexdigest()
    base = f'answers = "{key.as_posix()}"\n'
    same = {"stages": LADDER["stages"], "data": "data/", "answers_sha256": sha}
    cfg = write_thresholds(write(tmp_path, base), *thresholds_from_ladder(same, "l.json")[:2])
    assert threshold_problems(cfg) == []
    key.write_text("ID,label,Usage\n0,1,Public\n1,0,Private\n")            # another term's key, same path
    (problem,) = threshold_problems(cfg)
    assert f"sha256 {sha[:12]}" in problem and "the ladder ran on other data" in problem
    # A preset's recorded ladder against a key whose manifest records another build, or none.
    answer_key(tmp_path, manifest={"preset": "full", "seed": 3})
    cfg = write_thresholds(tmp_path / "competition.toml", *thresholds_from_ladder(LADDER, "demo.json")[:2])
    (problem,) = threshold_problems(cfg)
    assert "from preset demo (seed 0), but the answer key" in problem and "is preset full (seed 3)" in problem
    (key.parent / "manifest.json").unlink()
    (problem,) = threshold_problems(cfg)
    assert "data without a build's manifest.json beside it" in problem
    answer_key(tmp_path, manifest={"source": "imported", "seed": 0})      # `data_tools import`: the course's images
    (problem,) = threshold_problems(cfg)
    assert "is imported data (its manifest.json names no preset)" in problem
    answer_key(tmp_path, manifest={"preset": "demo", "seed": 0})
    assert threshold_problems(cfg) == []
    # The manifest's own record of the key's hash catches a key edited after the build.
    answer_key(tmp_path, manifest={"preset": "demo", "seed": 0,
                                   "files": {"answers": {"solution.csv": {"sha256": "b" * 64}}}})
    (problem,) = threshold_problems(cfg)
    assert "not the file that build wrote" in problem


def test_recorded_ladders_and_their_errors(tmp_path):
    have = sorted(p.name for p in RECORDED_LADDERS.glob("*-ladder.json"))
    assert "demo-ladder.json" in have
    baselines, src, warnings = thresholds_from_ladder(read_ladder(recorded_ladder("demo")), "demo-ladder.json")
    demo = load_competition(RECORDED_LADDERS / "demo.toml").baselines          # the kit's committed figures
    assert baselines == demo and (src.preset, src.seed) == ("demo", 0) and warnings == []
    with pytest.raises(ConfigError, match=r"no recorded ladder for preset 'smoke'; recorded: demo"):
        recorded_ladder("smoke")
    _, src, warnings = thresholds_from_ladder({**LADDER, "smoke": True}, "s.json")
    assert "smoke mode" in warnings[0] and src.source.endswith(", smoke mode")
    with pytest.raises(ConfigError, match="none of the stages"):
        thresholds_from_ladder({"stages": {"giant": {"public": 1, "private": 1}}}, "x.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ConfigError, match="bad.json: not valid JSON"):
        read_ladder(tmp_path / "bad.json")


def test_an_answer_key_built_with_a_seed_people_type_is_reported(tmp_path):
    from common.answer_key import SECRET_SEED_MIN
    cfg = load_competition(write(tmp_path, f'answers = "{answer_key(tmp_path).as_posix()}"\n'))
    assert answer_key_problems(cfg) == []                                  # no manifest: nothing known
    for seed in (0, 2026, SECRET_SEED_MIN - 1):
        answer_key(tmp_path, manifest={"source": "generated", "preset": "full", "seed": seed})
        (problem,) = answer_key_problems(cfg)
        assert f"built with seed {seed}: anyone with the kit can rebuild it" in problem
        assert f"--preset full --seed {seed}" in problem and "--seed random" in problem
    answer_key(tmp_path, manifest={"source": "generated", "preset": "full", "seed": SECRET_SEED_MIN})
    assert answer_key_problems(cfg) == []
    answer_key(tmp_path, manifest={"source": "imported", "seed": 0})      # the course's own images: no generator
    assert answer_key_problems(cfg) == []
