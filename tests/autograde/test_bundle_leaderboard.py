"""The student bundle's README says how to reach the leaderboard: its address, the login link and what to do when
it is lost, the daily limit and deadline read from the competition, and how to upload by browser and by API."""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from grader.autograde.release import build_bundle, fill_placeholders, leaderboard_facts
from grader.competition import CompetitionConfig
from grader.errors import GraderError


def _competition(**changes) -> CompetitionConfig:
    return CompetitionConfig().replace(**{"public_url": "https://hw8.example.edu", "daily_limit": 3,
                                          "final_selections": 2,
                                          "closes_at": datetime(2027, 1, 15, 23, 59, tzinfo=timezone.utc),
                                          **changes})


def test_the_bundle_readme_states_the_competitions_facts(released_course, tmp_path):
    build_bundle(released_course, ["ps1"], tmp_path / "bundle", _competition())
    text = (tmp_path / "bundle" / "README.md").read_text(encoding="utf-8")
    assert "{{" not in text and "LEADERBOARD" not in text
    assert "The leaderboard is at **https://hw8.example.edu**." in text
    assert "at most **3 scored uploads per day**" in text and "2027-01-15 23:59 UTC" in text
    assert "as *late*" in text                                          # late_uploads is on by default
    assert 'curl -H "Authorization: Bearer TOKEN" -F "file=@prediction.csv" https://hw8.example.edu/api/submissions' \
        in text
    assert "Lost your link" in text and "mark up to 2 submissions as final" in text


def test_without_a_competition_the_readme_sends_students_to_the_course(released_course, tmp_path):
    build_bundle(released_course, ["ps1"], tmp_path / "bundle")
    text = (tmp_path / "bundle" / "README.md").read_text(encoding="utf-8")
    assert "{{" not in text and "your course page gives the real address" in text
    assert "at most **a few scored uploads per day**" in text


def test_the_facts_follow_the_competition():
    facts = leaderboard_facts(_competition(late_uploads=False, daily_limit=7, public_url=""))
    assert facts["daily_limit"] == "7" and facts["late_rule"] == "uploads after it are refused."
    assert facts["leaderboard_url"] == "https://LEADERBOARD"             # no public_url: the course page says
    assert set(facts) == set(leaderboard_facts())


def test_an_unknown_placeholder_in_a_courses_template_is_an_error():
    with pytest.raises(GraderError, match=re.escape("README.md: unknown placeholder(s) {{leaderbord_url}}")):
        fill_placeholders("see {{leaderbord_url}}", leaderboard_facts(), "README.md")
    assert fill_placeholders("{{ daily_limit }} a day; {not a placeholder}", leaderboard_facts(), "x") == \
        "a few a day; {not a placeholder}"
