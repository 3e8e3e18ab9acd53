"""ODI v2.1a scoring against the hand-computed cases of CLINICAL.md §1."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from kyphos.clinical import ClinicalValueError, ClinicalValueErrors, odi


def test_odi_full_answer_set_scores_raw_and_percent() -> None:
    result = odi.score([1, 2, 2, 1, 2, 1, 2, 1, 2, 2])
    assert result.raw == 16
    assert result.answered == 10
    assert result.percent == pytest.approx(32.0, abs=1e-12)
    assert result.band == "moderate"


def test_odi_skipped_section_lowers_the_denominator_by_five() -> None:
    # CLINICAL.md §1: section 8 missing, section 9 = 3 → 16 / 45 = 35.555…%
    result = odi.score([1, 2, 2, 1, 2, 1, 2, None, 3, 2])
    assert result.raw == 16
    assert result.answered == 9
    assert result.percent == pytest.approx(16 / 45 * 100, abs=1e-12)
    assert result.percent == pytest.approx(35.5555555556, abs=1e-9)
    assert result.missing == (8,)


def test_odi_second_reference_case() -> None:
    result = odi.score([3, 2, 4, 3, 3, 2, 2, None, 3, 2])
    assert (result.raw, result.answered) == (24, 9)
    assert result.percent == pytest.approx(53.3333333333, abs=1e-9)
    assert result.band == "severe"


def test_odi_reference_study_raw_forty_over_nine_sections_is_88_9_percent() -> None:
    assert odi.raw_to_percent(40, 9) == pytest.approx(88.888888889, abs=1e-8)


@pytest.mark.parametrize(
    ("percent", "band"),
    [
        (0.0, "minimal"),
        (20.0, "minimal"),
        (20.01, "moderate"),
        (40.0, "moderate"),
        (40.5, "severe"),
        (60.0, "severe"),
        (61.0, "crippled"),
        (80.0, "crippled"),
        (80.1, "bed_bound"),
        (100.0, "bed_bound"),
    ],
)
def test_odi_bands_follow_the_kyphos_boundaries(percent: float, band: str) -> None:
    assert odi.band(percent) == band


def test_odi_bands_have_english_and_chinese_labels() -> None:
    assert odi.band_label("minimal", "en") == "minimal disability"
    assert odi.band_label("minimal", "zh") == "轻度功能障碍"


def test_odi_accepts_two_missing_sections_by_default() -> None:
    result = odi.score([5, 5, 5, 5, 5, 5, None, None, 5, 5])
    assert result.percent == pytest.approx(100.0)
    assert result.missing == (7, 8)


def test_odi_refuses_more_than_two_missing_sections() -> None:
    with pytest.raises(ClinicalValueError, match=r"3 sections are missing \(2, 5, 8\)"):
        odi.score([1, None, 2, 1, None, 1, 2, None, 2, 2])


def test_odi_missing_section_limit_is_a_setting() -> None:
    answers = [1, None, 2, 1, None, 1, 2, None, 2, 2]
    assert odi.score(answers, max_missing=3).answered == 7
    with pytest.raises(ClinicalValueError, match="at most 0 may be missing"):
        odi.score([1, 2, 2, 1, 2, 1, 2, None, 2, 2], max_missing=0)


def test_odi_refuses_all_sections_missing() -> None:
    with pytest.raises(ClinicalValueError, match="10 sections are missing"):
        odi.score([None] * 10, max_missing=9)


@pytest.mark.parametrize("length", [0, 9, 11])
def test_odi_refuses_an_answer_set_that_is_not_ten_long(length: int) -> None:
    with pytest.raises(ClinicalValueError, match=f"has 10 entries .* not {length}"):
        odi.score([1] * length)


def test_odi_refuses_an_answer_outside_zero_to_five_and_names_the_section() -> None:
    with pytest.raises(ClinicalValueError) as caught:
        odi.score([1, 2, 6, 1, 2, 1, 2, 1, 2, 2])
    assert str(caught.value) == "odi_3: 6 is not an ODI answer (0–5)"
    assert caught.value.field == "odi_3"


def test_odi_reports_every_bad_answer_at_once() -> None:
    with pytest.raises(ClinicalValueErrors) as caught:
        odi.score([-1, 2, 2, 1, 2, 1, 2, 1, 2, 9])
    assert [problem.field for problem in caught.value.problems] == ["odi_1", "odi_10"]


@pytest.mark.parametrize("bad", [2.5, True, "3"])
def test_odi_score_refuses_answers_that_are_not_whole_numbers(bad: object) -> None:
    answers: list[object] = [1, 2, 2, 1, 2, 1, 2, 1, 2, bad]
    with pytest.raises(ClinicalValueError, match="odi_10"):
        odi.score(answers)  # type: ignore[arg-type]


def test_odi_parse_answers_reads_spreadsheet_cells() -> None:
    assert odi.parse_answers(["1", 2.0, " 3 ", "", None, 0, 5, "4", "2", 1]) == [
        1,
        2,
        3,
        None,
        None,
        0,
        5,
        4,
        2,
        1,
    ]


def test_odi_parse_answer_says_what_is_wrong() -> None:
    with pytest.raises(ClinicalValueError, match=r"odi_4: 2\.5 is not a whole number"):
        odi.parse_answer("2.5", 4)
    with pytest.raises(ClinicalValueError, match=r"odi_4: 'a lot' is not a number"):
        odi.parse_answer("a lot", 4)
    with pytest.raises(ClinicalValueError) as caught:
        odi.parse_answer(7, 2)
    assert caught.value.text("zh") == "7 不是有效的ODI答案（0–5）"


@given(st.lists(st.one_of(st.none(), st.integers(0, 5)), min_size=10, max_size=10))
def test_odi_percent_equals_sum_over_five_times_answered(answers: list[int | None]) -> None:
    answered = [answer for answer in answers if answer is not None]
    if len(answered) < 8:
        with pytest.raises(ClinicalValueError):
            odi.score(answers)
        return
    result = odi.score(answers)
    assert result.raw == sum(answered)
    assert result.percent == pytest.approx(100 * sum(answered) / (5 * len(answered)))
    assert 0.0 <= result.percent <= 100.0


def test_odi_sections_follow_version_2_1a_order_with_chinese_titles() -> None:
    keys = [section.key for section in odi.SECTIONS]
    assert keys == [
        "pain_intensity",
        "personal_care",
        "lifting",
        "walking",
        "sitting",
        "standing",
        "sleeping",
        "sex_life",
        "social_life",
        "travelling",
    ]
    assert all(section.title_zh for section in odi.SECTIONS)
    assert odi.SECTIONS[odi.SEX_LIFE_SECTION - 1].key == "sex_life"


# --- instrument files ----------------------------------------------------------------------


def test_builtin_instrument_is_marked_as_not_the_validated_wording() -> None:
    instrument = odi.builtin_instrument()
    assert instrument.validated_wording is False
    assert "Not the validated" in instrument.notice["en"]
    assert instrument.languages == ("en", "zh")
    assert len(instrument.sections) == 10
    for section in instrument.sections:
        assert len(section.answers["en"]) == 6
        assert len(section.answers["zh"]) == 6
    assert instrument.answer_text(1, 0, "en") == "Level 0: none"


def _valid_instrument() -> dict[str, object]:
    return {
        "instrument": "odi",
        "version": "2.1a",
        "languages": ["en"],
        "validated_wording": True,
        "notice": {"en": "Licensed wording"},
        "sections": [
            {
                "key": section.key,
                "title": {"en": section.title_en},
                "answers": {"en": [f"{section.key} answer {n}" for n in range(6)]},
            }
            for section in odi.SECTIONS
        ],
    }


def test_load_instrument_reads_a_licensed_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "licensed.yaml"
    path.write_text(yaml.safe_dump(_valid_instrument()), encoding="utf-8")
    instrument = odi.load_instrument(path)
    assert instrument.validated_wording is True
    assert instrument.answer_text(4, 5) == "walking answer 5"
    assert (
        instrument.answer_text(4, 5, "zh") == "walking answer 5"
    )  # falls back to a language it has


def test_load_instrument_reads_json(tmp_path: Path) -> None:
    import json

    path = tmp_path / "licensed.json"
    path.write_text(json.dumps(_valid_instrument()), encoding="utf-8")
    assert odi.load_instrument(path).sections[9].key == "travelling"


def test_load_instrument_locates_every_problem(tmp_path: Path) -> None:
    data = _valid_instrument()
    sections = data["sections"]
    assert isinstance(sections, list)
    sections[2]["answers"]["en"] = ["only", "five", "answer", "texts", "here"]
    sections[6]["title"] = {"en": ""}
    sections[7]["key"] = "employment"
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ClinicalValueErrors) as caught:
        odi.load_instrument(path)
    text = str(caught.value)
    assert f"{path}:sections[3].answers.en: needs 6 answer texts (scores 0–5), found 5" in text
    assert f"{path}:sections[7].title.en: missing" in text
    assert f"{path}:sections[8].key: 'employment' should be 'sex_life'" in text


def test_load_instrument_refuses_wrong_section_count_and_version(tmp_path: Path) -> None:
    data = _valid_instrument()
    sections = data["sections"]
    assert isinstance(sections, list)
    data["sections"] = sections[:9]
    data["version"] = "2.0"
    path = tmp_path / "short.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ClinicalValueErrors) as caught:
        odi.load_instrument(path)
    text = str(caught.value)
    assert "version: '2.0' is not ODI version 2.1a" in text
    assert "an ODI instrument has 10 sections, this file has 9" in text


def test_load_instrument_reports_malformed_yaml_and_missing_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("sections: [unclosed", encoding="utf-8")
    with pytest.raises(ClinicalValueError, match="not valid YAML"):
        odi.load_instrument(bad)
    with pytest.raises(ClinicalValueError, match="no such instrument file"):
        odi.load_instrument(tmp_path / "absent.yaml")
    listed = tmp_path / "list.yaml"
    listed.write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(ClinicalValueError, match="holds a mapping"):
        odi.load_instrument(listed)


# --- whole cohorts at once -----------------------------------------------------------------

NAN = float("nan")


def test_score_array_scores_the_reference_cases() -> None:
    scores = odi.score_array(
        [
            [1, 2, 2, 1, 2, 1, 2, 1, 2, 2],
            [1, 2, 2, 1, 2, 1, 2, NAN, 3, 2],
            [3, 2, 4, 3, 3, 2, 2, NAN, 3, 2],
            [1, NAN, 2, 1, NAN, 1, 2, NAN, 2, 2],
        ]
    )
    assert scores.raw[:3].tolist() == [16, 16, 24]
    assert scores.answered.tolist() == [10, 9, 9, 7]
    assert scores.percent[0] == pytest.approx(32.0)
    assert scores.percent[1] == pytest.approx(16 / 45 * 100)
    assert scores.percent[2] == pytest.approx(24 / 45 * 100)
    # three sections missing: no score (the same rule as score())
    assert str(scores.percent[3]) == "nan"


def test_score_array_refuses_an_answer_outside_zero_to_five() -> None:
    with pytest.raises(ClinicalValueError, match=r"odi_3: 6 is not an ODI answer \(0–5\)"):
        odi.score_array([[1, 2, 6, 1, 2, 1, 2, 1, 2, 2]])
    with pytest.raises(ClinicalValueError, match="columns"):
        odi.score_array([[1, 2, 3]])


@given(st.lists(st.one_of(st.none(), st.integers(0, 5)), min_size=10, max_size=10))
def test_score_array_agrees_with_the_sum_rule_row_by_row(answers: list[int | None]) -> None:
    row = [NAN if a is None else float(a) for a in answers]
    scores = odi.score_array([row])
    answered = [a for a in answers if a is not None]
    assert scores.answered[0] == len(answered)
    if len(answered) >= 8:
        assert scores.percent[0] == pytest.approx(100 * sum(answered) / (5 * len(answered)))
    else:
        assert str(scores.percent[0]) == "nan"
