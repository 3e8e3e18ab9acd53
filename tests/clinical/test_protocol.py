"""Visit protocol, windows and worklist (CLINICAL.md §10).

Every expected day below is worked out by hand from the rules in the test's
comment (30.4375 days a month, window ± max(7, 0.15 × target), halves rounded
up), never by calling the module's own helpers.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kyphos.clinical import protocol as protocol_module
from kyphos.clinical.errors import ClinicalValueError, ClinicalValueErrors
from kyphos.clinical.protocol import (
    DEFAULT_PROTOCOL,
    WORKLIST_STATES,
    Protocol,
    TimePoint,
    classify,
    classify_day,
    day_offset,
    load_protocol,
    parse_key,
    select_final,
    select_final_visit,
    worklist_state,
)

INDEX = date(2024, 1, 1)


def on_day(day: int) -> date:
    """The calendar date ``day`` days after INDEX (plain datetime arithmetic)."""
    return INDEX + timedelta(days=day)


def window(key: str) -> tuple[int | None, int, int | None]:
    point = parse_key(key)
    return point.target_day, point.window_start, point.window_end


# --- parse_key: targets and windows ------------------------------------------------------------


def test_month_1_is_day_30_with_the_minimum_window_of_7_days() -> None:
    # 30.4375 × 1 = 30.4375 → 30; 0.15 × 30 = 4.5 → 5 < 7 → ±7
    assert window("m1") == (30, 23, 37)


def test_month_3_is_day_91_with_a_window_of_14_days() -> None:
    # 30.4375 × 3 = 91.3125 → 91; 0.15 × 91 = 13.65 → 14
    assert window("m3") == (91, 77, 105)


def test_month_6_rounds_182_625_up_to_day_183_with_a_window_of_27_days() -> None:
    # 30.4375 × 6 = 182.625 → 183; 0.15 × 183 = 27.45 → 27
    assert window("m6") == (183, 156, 210)


def test_month_12_is_day_365_with_a_window_of_55_days() -> None:
    # 30.4375 × 12 = 365.25 → 365; 0.15 × 365 = 54.75 → 55
    assert window("m12") == (365, 310, 420)


def test_month_24_rounds_730_5_half_up_to_day_731() -> None:
    # 30.4375 × 24 = 730.5 → 731 (half up; to-even would give 730); 0.15 × 731 = 109.65 → 110
    assert window("m24") == (731, 621, 841)


def test_week_6_is_day_42_with_the_minimum_window_of_7_days() -> None:
    # 7 × 6 = 42; 0.15 × 42 = 6.3 → 6 < 7 → ±7
    assert window("w6") == (42, 35, 49)


def test_day_90_window_rounds_13_5_half_up_to_14() -> None:
    # 0.15 × 90 = 13.5 → 14
    assert window("d90") == (90, 76, 104)


def test_windows_round_halves_up_not_to_even() -> None:
    # 0.15 × 70 = 10.5 → 11 (to-even would give 10); 0.15 × 110 = 16.5 → 17 (not 16)
    assert window("d70") == (70, 59, 81)
    assert window("d110") == (110, 93, 127)


def test_early_windows_never_open_before_day_1() -> None:
    # d3: 3 ± 7 = −4..10, clipped to day 1 (day 0 is the procedure, which is preop)
    assert window("d3") == (3, 1, 10)
    assert window("d1") == (1, 1, 8)
    # w1: 7 ± 7 = 0..14 → 1..14, the same window as postop
    assert window("w1") == (7, 1, 14)


def test_postop_is_target_day_7_with_window_days_1_to_14() -> None:
    assert window("postop") == (7, 1, 14)


def test_preop_window_is_day_minus_30_to_0() -> None:
    assert window("preop") == (0, -30, 0)


def test_final_has_no_target_and_an_open_window_from_day_180() -> None:
    assert window("final") == (None, 180, None)
    assert parse_key("final").is_final


@pytest.mark.parametrize(
    ("key", "label_en", "label_zh"),
    [
        ("m12", "Month 12", "术后12个月"),
        ("w6", "Week 6", "术后6周"),
        ("d3", "Day 3", "术后第3天"),
        ("preop", "Preoperative", "术前"),
        ("postop", "Postoperative 1 week", "术后1周"),
        ("final", "Final follow-up", "末次随访"),
    ],
)
def test_parse_key_gives_default_labels_in_english_and_chinese(
    key: str, label_en: str, label_zh: str
) -> None:
    point = parse_key(key)
    assert (point.label_en, point.label_zh) == (label_en, label_zh)
    assert point.label("en") == label_en
    assert point.label("zh") == label_zh


@pytest.mark.parametrize("written", ["M12", " m12 ", "m 12", "M\t12", "Ｍ１２", "m012"])
def test_parse_key_normalises_case_spaces_full_width_and_leading_zeros(written: str) -> None:
    assert parse_key(written).key == "m12"


@pytest.mark.parametrize("written", ["PREOP", " Postop", "Final "])
def test_parse_key_normalises_named_keys(written: str) -> None:
    assert parse_key(written).key == written.strip().lower()


@pytest.mark.parametrize(
    "bad", ["m0", "d-3", "x5", "m", "", "   ", "m1.5", "12", "month3", "m-1", "w 0", "d3a"]
)
def test_parse_key_refuses_anything_else_and_lists_the_accepted_forms(bad: str) -> None:
    with pytest.raises(ClinicalValueError) as caught:
        parse_key(bad)
    assert caught.value.field == "timepoint"
    for form in ("preop", "postop", "final", "d<N>", "w<N>", "m<N>"):
        assert form in caught.value.message
    assert caught.value.message_zh is not None


@pytest.mark.parametrize("bad", [None, 12, ["m3"]])
def test_parse_key_refuses_values_that_are_not_text(bad: object) -> None:
    with pytest.raises(ClinicalValueError, match="not a time point"):
        parse_key(bad)  # type: ignore[arg-type]


def test_parse_key_accepts_ten_years_and_refuses_beyond() -> None:
    # 30.4375 × 120 = 3652.5 → 3653; m121 = 3682.9375 → 3683
    assert parse_key("m120").target_day == 3653
    assert parse_key("d3653").target_day == 3653
    with pytest.raises(ClinicalValueError, match="ten years"):
        parse_key("m121")
    with pytest.raises(ClinicalValueError, match="ten years"):
        parse_key("d3654")


def _independent_target(kind: str, count: int) -> int:
    # 30.4375 = 487/16, so round_half_up(487N/16) = floor((487N + 8) / 16) exactly.
    return {"d": count, "w": 7 * count, "m": (487 * count + 8) // 16}[kind]


def _independent_half_window(target: int) -> int:
    # round_half_up(15 t / 100) = floor((15 t + 50) / 100), exactly.
    return max(7, (15 * target + 50) // 100)


counted_keys = st.one_of(
    st.tuples(st.just("d"), st.integers(1, 3653)),
    st.tuples(st.just("w"), st.integers(1, 521)),
    st.tuples(st.just("m"), st.integers(1, 120)),
)


@given(counted_keys, st.booleans(), st.booleans())
def test_parse_key_round_trips_any_counted_key(
    kind_count: tuple[str, int], upper: bool, spaced: bool
) -> None:
    kind, count = kind_count
    key = f"{kind}{count}"
    written = f"{kind.upper() if upper else kind}{' ' if spaced else ''}{count}"
    point = parse_key(written)
    assert point.key == key
    assert parse_key(point.key) == point
    target = _independent_target(kind, count)
    half = _independent_half_window(target)
    assert point.target_day == target
    assert point.window_end == target + half
    assert point.window_start == max(1, target - half)


# --- TimePoint ---------------------------------------------------------------------------------


def test_timepoint_refuses_a_key_not_written_canonically() -> None:
    with pytest.raises(ClinicalValueError, match="'m12'"):
        TimePoint("M12", "Month 12", "术后12个月", 365, 310, 420)


def test_timepoint_refuses_a_target_the_key_does_not_give() -> None:
    with pytest.raises(ClinicalValueError, match=r"m3\.target_day"):
        TimePoint("m3", "Month 3", "术后3个月", 90, 77, 105)


def test_timepoint_refuses_a_window_that_starts_after_it_ends() -> None:
    with pytest.raises(ClinicalValueError, match=r"m3\.window.*starts after it ends"):
        TimePoint("m3", "Month 3", "术后3个月", 91, 105, 77)


def test_timepoint_refuses_an_empty_label() -> None:
    with pytest.raises(ClinicalValueError, match=r"m3\.label_zh"):
        TimePoint("m3", "Month 3", " ", 91, 77, 105)


def test_timepoint_contains_both_ends_of_its_window() -> None:
    m3 = parse_key("m3")
    assert [m3.contains(day) for day in (76, 77, 105, 106)] == [False, True, True, False]
    final = parse_key("final")
    assert [final.contains(day) for day in (179, 180, 5000)] == [False, True, True]


# --- Protocol ------------------------------------------------------------------------------------


def test_default_protocol_is_the_reference_studys_with_its_labels() -> None:
    # reference/seed_study.json, design.timepoints
    assert DEFAULT_PROTOCOL.keys == ("preop", "postop", "final")
    labels = [(p.label_en, p.label_zh) for p in DEFAULT_PROTOCOL.timepoints]
    assert labels == [
        ("Preoperative", "术前"),
        ("Postoperative 1 week", "术后1周"),
        ("Final follow-up", "末次随访时"),
    ]
    assert (DEFAULT_PROTOCOL.final_start_day, DEFAULT_PROTOCOL.final_overdue_day) == (180, 365)


def test_protocol_get_normalises_the_key_and_returns_none_when_absent() -> None:
    assert DEFAULT_PROTOCOL.get(" PostOp ") == parse_key("postop")
    assert DEFAULT_PROTOCOL.get("m3") is None
    assert "final" in DEFAULT_PROTOCOL
    assert "m3" not in DEFAULT_PROTOCOL
    assert DEFAULT_PROTOCOL.final is not None


def test_protocol_refuses_duplicate_keys() -> None:
    with pytest.raises(ClinicalValueError, match=r"timepoints\[1\]\.key: m3 is listed twice"):
        Protocol((parse_key("m3"), parse_key("m3")))


def test_protocol_refuses_time_points_out_of_order() -> None:
    with pytest.raises(ClinicalValueError, match="in order of target day"):
        Protocol((parse_key("m3"), parse_key("preop")))
    with pytest.raises(ClinicalValueError, match="in order of target day"):
        Protocol((parse_key("final"), parse_key("m3")))


def test_protocol_refuses_two_time_points_on_the_same_day() -> None:
    # m1 = round(30.4375) = 30 = d30
    with pytest.raises(ClinicalValueError, match="m1 falls on day 30, as d30 does"):
        Protocol((parse_key("d30"), parse_key("m1")))


def test_protocol_refuses_an_empty_list() -> None:
    with pytest.raises(ClinicalValueError, match="needs a time point"):
        Protocol(())


def test_protocol_refuses_a_final_that_opens_on_another_day_than_final_start_day() -> None:
    with pytest.raises(ClinicalValueError, match="final_start_day is 200"):
        Protocol((parse_key("m3"), parse_key("final")), final_start_day=200)


def test_protocol_refuses_an_overdue_day_not_after_the_start_day() -> None:
    with pytest.raises(ClinicalValueError, match="final_overdue_day"):
        Protocol((parse_key("m3"),), final_start_day=180, final_overdue_day=180)


def test_protocol_round_trips_through_to_dict_and_json() -> None:
    rich = Protocol.from_dict(
        {"timepoints": ["preop", "postop", "m3", {"key": "m12", "window": [330, 400]}, "final"]}
    )
    data = json.loads(json.dumps(rich.to_dict(), ensure_ascii=False))
    assert Protocol.from_dict(data) == rich
    assert Protocol.from_dict(DEFAULT_PROTOCOL.to_dict()) == DEFAULT_PROTOCOL


def test_to_dict_lists_key_labels_target_and_window() -> None:
    assert DEFAULT_PROTOCOL.to_dict()["timepoints"][1] == {
        "key": "postop",
        "label_en": "Postoperative 1 week",
        "label_zh": "术后1周",
        "target_day": 7,
        "window": [1, 14],
    }


def test_from_dict_fills_labels_and_windows_from_the_key_and_sorts() -> None:
    built = Protocol.from_dict(
        {"timepoints": [{"key": "final"}, {"key": "M3", "label_en": "3 months"}, "preop"]}
    )
    assert built.keys == ("preop", "m3", "final")
    m3 = built.get("m3")
    assert m3 is not None
    assert (m3.label_en, m3.label_zh, m3.window_start, m3.window_end) == (
        "3 months",
        "术后3个月",
        77,
        105,
    )


def test_from_dict_reads_final_days_from_the_top_level() -> None:
    built = Protocol.from_dict(
        {"timepoints": ["m3", "final"], "final_start_day": 270, "final_overdue_day": 450}
    )
    final = built.get("final")
    assert final is not None and final.window_start == 270
    assert (built.final_start_day, built.final_overdue_day) == (270, 450)


# --- protocol files --------------------------------------------------------------------------


GOOD_YAML = """\
timepoints:
  - key: preop
  - key: postop
  - key: m3
    label_en: 3 months
    label_zh: 术后3个月
    window: [80, 100]
  - final
"""


def test_load_protocol_reads_yaml(tmp_path: Path) -> None:
    path = tmp_path / "protocol.yaml"
    path.write_text(GOOD_YAML, encoding="utf-8")
    loaded = load_protocol(path)
    assert loaded.keys == ("preop", "postop", "m3", "final")
    m3 = loaded.get("m3")
    assert m3 is not None and (m3.window_start, m3.window_end) == (80, 100)


def test_load_protocol_reads_json(tmp_path: Path) -> None:
    path = tmp_path / "protocol.json"
    path.write_text(
        json.dumps({"timepoints": [{"key": "preop"}, {"key": "m6", "window": [160, 200]}]}),
        encoding="utf-8",
    )
    assert load_protocol(path).keys == ("preop", "m6")


def _problems_of(tmp_path: Path, text: str, name: str = "protocol.yaml") -> list[str]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ClinicalValueError) as caught:
        load_protocol(path)
    error = caught.value
    problems = error.problems if isinstance(error, ClinicalValueErrors) else (error,)
    prefix = f"{path}:"
    for problem in problems:
        assert str(problem).startswith(prefix), str(problem)
    return [str(problem)[len(prefix) :] for problem in problems]


def test_protocol_file_with_a_duplicate_key_names_the_entry(tmp_path: Path) -> None:
    problems = _problems_of(tmp_path, "timepoints: [preop, m3, M3]\n")
    assert problems == ["timepoints[2].key: m3 is listed twice (also timepoints[1]); keep one"]


def test_protocol_file_with_a_bad_key_names_the_entry_and_the_accepted_forms(
    tmp_path: Path,
) -> None:
    problems = _problems_of(tmp_path, "timepoints:\n  - key: preop\n  - key: x5\n")
    assert len(problems) == 1
    assert problems[0].startswith("timepoints[1].key: 'x5' is not a time point; use preop")


def test_protocol_file_with_a_window_that_starts_after_it_ends(tmp_path: Path) -> None:
    problems = _problems_of(tmp_path, "timepoints:\n  - key: m3\n    window: [105, 77]\n")
    assert problems == ["timepoints[0].window: [105, 77]: the window starts after it ends"]


@pytest.mark.parametrize(
    ("window_text", "where"),
    [("[77.5, 105]", "window[0]"), ("[77, ten]", "window[1]"), ("[77, true]", "window[1]")],
)
def test_protocol_file_with_a_non_integer_window_names_the_end(
    tmp_path: Path, window_text: str, where: str
) -> None:
    problems = _problems_of(tmp_path, f"timepoints:\n  - key: m3\n    window: {window_text}\n")
    assert len(problems) == 1
    assert problems[0].startswith(f"timepoints[0].{where}: ")
    assert "number" in problems[0]


@pytest.mark.parametrize("window_text", ["77", "[77]", "[77, 90, 105]", "{start: 77}"])
def test_protocol_file_window_must_be_two_days(tmp_path: Path, window_text: str) -> None:
    problems = _problems_of(tmp_path, f"timepoints:\n  - key: m3\n    window: {window_text}\n")
    assert len(problems) == 1
    assert problems[0].startswith("timepoints[0].window: ")
    assert "[first day, last day]" in problems[0]


def test_protocol_file_window_must_include_the_target_day(tmp_path: Path) -> None:
    # m3's target is day 91
    problems = _problems_of(tmp_path, "timepoints:\n  - key: m3\n    window: [100, 120]\n")
    assert problems == [
        "timepoints[0].window: [100, 120] does not include the target day of m3 (91)"
    ]


def test_protocol_file_postoperative_window_cannot_open_on_the_procedure_day(
    tmp_path: Path,
) -> None:
    problems = _problems_of(tmp_path, "timepoints:\n  - key: postop\n    window: [0, 14]\n")
    assert len(problems) == 1
    assert problems[0].startswith("timepoints[0].window: [0, 14]: a postoperative window")


def test_protocol_file_preop_window_cannot_reach_past_the_procedure(tmp_path: Path) -> None:
    problems = _problems_of(tmp_path, "timepoints:\n  - key: preop\n    window: [-30, 3]\n")
    assert len(problems) == 1
    assert problems[0].startswith("timepoints[0].window: [-30, 3]: the preoperative window")


def test_protocol_file_final_takes_no_window(tmp_path: Path) -> None:
    problems = _problems_of(tmp_path, "timepoints:\n  - key: final\n    window: [180, 365]\n")
    assert len(problems) == 1
    assert problems[0].startswith("timepoints[0].window: final takes no window")
    assert "final_start_day" in problems[0]


def test_protocol_file_target_day_must_match_the_key(tmp_path: Path) -> None:
    problems = _problems_of(tmp_path, "timepoints:\n  - key: m3\n    target_day: 90\n")
    assert len(problems) == 1
    assert problems[0].startswith("timepoints[0].target_day: 90 is not the target day of m3 (91)")


def test_protocol_file_with_unknown_fields_names_them(tmp_path: Path) -> None:
    problems = _problems_of(
        tmp_path, "timepoints:\n  - key: m3\n    windw: [77, 105]\nfinal_day: 180\n"
    )
    assert sorted(problems) == [
        "final_day: unknown field; a protocol holds timepoints, final_start_day, final_overdue_day",
        "timepoints[0].windw: unknown field; a time point holds key, label_en, label_zh, "
        "target_day, window",
    ]


def test_protocol_file_reports_every_problem_at_once(tmp_path: Path) -> None:
    text = """\
timepoints:
  - key: preop
  - key: m3
    window: [105, 77]
  - key: x5
  - key: m6
    window: [150, soon]
  - key: m3
  - key: d30
  - key: m1
    label_zh: ""
final_overdue_day: 100
"""
    problems = _problems_of(tmp_path, text)
    locations = [problem.split(": ", 1)[0] for problem in problems]
    # top-level fields first, then the time points in the order of the file
    assert locations == [
        "final_overdue_day",
        "timepoints[1].window",
        "timepoints[2].key",
        "timepoints[3].window[1]",
        "timepoints[4].key",
        "timepoints[6].label_zh",
        "timepoints[6].key",
    ]


def test_protocol_file_with_invalid_yaml_says_so_with_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / "protocol.yaml"
    path.write_text("timepoints: [preop, postop\n  - final: [\n", encoding="utf-8")
    with pytest.raises(ClinicalValueError) as caught:
        load_protocol(path)
    assert caught.value.field == str(path)
    assert caught.value.message.startswith("not valid YAML: line 2, column 10: ")
    assert "\n" not in caught.value.message


def test_protocol_file_with_invalid_json_says_so(tmp_path: Path) -> None:
    path = tmp_path / "protocol.json"
    path.write_text('{"timepoints": ["preop",]}', encoding="utf-8")
    with pytest.raises(ClinicalValueError, match="not valid JSON: line 1, column 25: "):
        load_protocol(path)


def test_missing_protocol_file_is_a_clinical_value_error(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(ClinicalValueError) as caught:
        load_protocol(path)
    assert str(caught.value) == f"{path}: no such protocol file"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the protocol is empty"),
        ("- preop\n- final\n", "a protocol is a mapping"),
        ("timepoints: []\n", "timepoints: needs a list of time points"),
        ("timepoints: preop\n", "timepoints: needs a list of time points"),
    ],
)
def test_protocol_file_of_the_wrong_shape_says_what_it_should_hold(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "protocol.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ClinicalValueError, match=message):
        load_protocol(path)


def test_from_dict_without_a_source_locates_problems_in_the_data() -> None:
    with pytest.raises(ClinicalValueError) as caught:
        Protocol.from_dict({"timepoints": ["preop", {"key": "m3", "window": [1, "x"]}]})
    assert str(caught.value).startswith("timepoints[1].window[1]: ")


# --- day offsets ---------------------------------------------------------------------------------


def test_day_offset_counts_days_from_the_index_procedure() -> None:
    assert day_offset(date(2024, 1, 11), date(2024, 1, 1)) == 10
    assert day_offset(date(2024, 1, 1), date(2024, 1, 1)) == 0


def test_day_offset_is_negative_before_the_procedure() -> None:
    assert day_offset(date(2023, 12, 27), date(2024, 1, 1)) == -5


def test_day_offset_counts_29_february_in_a_leap_year() -> None:
    assert day_offset(date(2024, 3, 1), date(2024, 2, 28)) == 2
    assert day_offset(date(2023, 3, 1), date(2023, 2, 28)) == 1
    assert day_offset(date(2025, 1, 1), date(2024, 1, 1)) == 366
    assert day_offset(date(2024, 1, 1), date(2023, 1, 1)) == 365
    assert day_offset(date(2025, 2, 28), date(2024, 2, 29)) == 365


def test_day_offset_accepts_datetimes_by_their_date() -> None:
    assert day_offset(datetime(2024, 1, 11, 23, 59), datetime(2024, 1, 1, 0, 1)) == 10


def test_day_offset_refuses_text() -> None:
    with pytest.raises(ClinicalValueError, match="visit_date: '2024-01-11' is not a date"):
        day_offset("2024-01-11", date(2024, 1, 1))  # type: ignore[arg-type]


# --- classify --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (-31, None),
        (-30, "preop"),
        (-5, "preop"),
        (0, "preop"),
        (1, "postop"),
        (10, "postop"),
        (14, "postop"),
        (15, None),
        (20, None),
        (179, None),
        (180, "final"),
        (200, "final"),
        (2000, "final"),
    ],
)
def test_classify_in_the_default_protocol(day: int, expected: str | None) -> None:
    assert classify(on_day(day), INDEX) == expected


def test_classify_across_a_leap_day() -> None:
    # 2024-02-20 → 2024-03-01 is 10 days (29 February in between): postop
    assert classify(date(2024, 3, 1), date(2024, 2, 20)) == "postop"
    # 2023-02-20 → 2023-03-01 is 9 days
    assert day_offset(date(2023, 3, 1), date(2023, 2, 20)) == 9


def test_classify_prefers_a_scheduled_window_over_final() -> None:
    # m6 window 156..210 (see above); final from 180
    with_m6 = Protocol.from_dict({"timepoints": ["preop", "postop", "m6", "final"]})
    assert classify_day(200, with_m6) == "m6"
    assert classify_day(210, with_m6) == "m6"
    assert classify_day(211, with_m6) == "final"
    assert classify_day(155, with_m6) is None


def test_classify_picks_the_nearest_target_when_windows_overlap_and_the_earlier_on_a_tie() -> None:
    # m1: target 30, window 23..37; w6: target 42, window 35..49 — overlap 35..37
    overlapping = Protocol.from_dict({"timepoints": ["m1", "w6"]})
    assert classify_day(35, overlapping) == "m1"  # 5 from m1, 7 from w6
    assert classify_day(36, overlapping) == "m1"  # 6 from each: the earlier
    assert classify_day(37, overlapping) == "w6"  # 7 from m1, 5 from w6


def test_classify_without_final_leaves_late_visits_unscheduled() -> None:
    no_final = Protocol.from_dict({"timepoints": ["preop", "postop", "m3"]})
    assert classify_day(400, no_final) is None
    assert classify_day(91, no_final) == "m3"


CANDIDATE_KEYS = ["preop", "postop", "d3", "w2", "m1", "w6", "m3", "d100", "m6", "m12", "m24"]


@given(
    st.sets(st.sampled_from(CANDIDATE_KEYS), min_size=1),
    st.booleans(),
    st.integers(-400, 1500),
)
def test_classify_never_returns_a_time_point_whose_window_excludes_the_day(
    keys: set[str], with_final: bool, day: int
) -> None:
    chosen = Protocol.from_dict({"timepoints": sorted(keys) + (["final"] if with_final else [])})
    result = classify_day(day, chosen)
    holding = [
        point
        for point in chosen.timepoints
        if not point.is_final
        and point.window_end is not None
        and point.window_start <= day <= point.window_end
    ]
    if result is None:
        assert holding == []
        assert not with_final or day < 180
    elif result == "final":
        assert holding == []
        assert with_final and day >= 180
    else:
        point = chosen.get(result)
        assert point is not None and point in holding
        assert point.target_day is not None
        distance = abs(day - point.target_day)
        assert all(distance <= abs(day - (other.target_day or 0)) for other in holding)


# --- select_final ----------------------------------------------------------------------------


def test_a_visit_keyed_final_wins_over_a_later_visit() -> None:
    visits = [("preop", on_day(-2)), ("final", on_day(200)), ("m12", on_day(365))]
    assert select_final(visits, INDEX) == on_day(200)
    assert select_final_visit(visits, INDEX) == ("final", on_day(200))


def test_a_visit_keyed_final_wins_even_before_day_180() -> None:
    visits = [("final", on_day(150)), ("m9", on_day(274))]
    assert select_final(visits, INDEX) == on_day(150)


def test_without_a_final_key_the_latest_visit_from_day_180_is_final() -> None:
    visits = [("m12", on_day(365)), ("postop", on_day(7)), ("m6", on_day(183))]
    assert select_final_visit(visits, INDEX) == ("m12", on_day(365))


def test_final_window_starts_on_day_180_exactly() -> None:
    assert select_final([("m6", on_day(180))], INDEX) == on_day(180)
    assert select_final([("m6", on_day(179)), ("postop", on_day(7))], INDEX) is None
    assert select_final([], INDEX) is None


def test_select_final_reads_the_final_key_in_any_case() -> None:
    visits = [(" FINAL ", on_day(190)), ("m12", on_day(365))]
    assert select_final(visits, INDEX) == on_day(190)


def test_select_final_passes_over_undated_visits_but_needs_a_date_for_final() -> None:
    assert select_final([("preop", None), ("m7", on_day(213))], INDEX) == on_day(213)
    with pytest.raises(ClinicalValueError, match="visit keyed final has no date"):
        select_final([("final", None)], INDEX)


def test_select_final_uses_the_protocols_final_start_day() -> None:
    late = Protocol.from_dict({"timepoints": ["preop", "final"], "final_start_day": 270})
    assert select_final([("m6", on_day(183))], INDEX, late) is None
    assert select_final([("m9", on_day(274))], INDEX, late) == on_day(274)


def test_select_final_is_none_when_the_protocol_has_no_final() -> None:
    no_final = Protocol.from_dict({"timepoints": ["preop", "m3"]})
    assert select_final([("final", on_day(200))], INDEX, no_final) is None


# --- worklist ---------------------------------------------------------------------------------


def state_on(day: int, key: str, done: dict[str, date | None] | None = None) -> str:
    return worklist_state(INDEX, done or {}, on_day(day))[key]


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (-14, "not_yet"),
        (-13, "upcoming"),
        (0, "upcoming"),
        (1, "due"),
        (14, "due"),
        (15, "overdue"),
    ],
)
def test_postop_worklist_boundaries(day: int, expected: str) -> None:
    # window 1..14: upcoming from 1 − 14 = −13
    assert state_on(day, "postop") == expected


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (165, "not_yet"),
        (166, "upcoming"),
        (179, "upcoming"),
        (180, "due"),
        (364, "due"),
        (365, "overdue"),
        (1000, "overdue"),
    ],
)
def test_final_worklist_boundaries(day: int, expected: str) -> None:
    # due from 180, upcoming from 180 − 14 = 166, overdue from 365
    assert state_on(day, "final") == expected


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (-45, "not_yet"),
        (-44, "upcoming"),
        (-31, "upcoming"),
        (-30, "due"),
        (0, "due"),
        (1, "overdue"),
    ],
)
def test_preop_worklist_boundaries(day: int, expected: str) -> None:
    # window −30..0: upcoming from −30 − 14 = −44
    assert state_on(day, "preop") == expected


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (62, "not_yet"),
        (63, "upcoming"),
        (76, "upcoming"),
        (77, "due"),
        (105, "due"),
        (106, "overdue"),
    ],
)
def test_month_3_worklist_boundaries(day: int, expected: str) -> None:
    # m3 window 77..105: upcoming from 77 − 14 = 63
    three_months = Protocol.from_dict({"timepoints": ["preop", "m3"]})
    assert worklist_state(INDEX, {}, on_day(day), three_months)["m3"] == expected


def test_a_visit_makes_its_time_point_done_whatever_the_day() -> None:
    assert state_on(40, "postop", {"postop": on_day(9)}) == "done"
    assert state_on(-40, "preop", {" PreOp": on_day(-41)}) == "done"


def test_worklist_accepts_a_plain_collection_of_keys() -> None:
    states = worklist_state(INDEX, {"preop", "postop", "final"}, on_day(400))
    assert states == {"preop": "done", "postop": "done", "final": "done"}
    assert worklist_state(INDEX, ["preop"], on_day(20))["postop"] == "overdue"


def test_final_is_done_by_any_visit_from_day_180() -> None:
    assert state_on(400, "final", {"m6": on_day(183)}) == "done"
    assert state_on(400, "final", {"m6": on_day(180)}) == "done"


def test_final_is_not_done_by_a_visit_before_day_180() -> None:
    assert state_on(200, "final", {"m5": on_day(179)}) == "due"
    assert state_on(365, "final", {"m5": on_day(179)}) == "overdue"


def test_final_is_done_by_a_visit_keyed_final_even_early() -> None:
    assert state_on(400, "final", {"final": on_day(150)}) == "done"


def test_worklist_for_a_procedure_in_the_future() -> None:
    # index procedure 60 days ahead of today
    states = worklist_state(on_day(60), {}, INDEX)
    assert states == {"preop": "not_yet", "postop": "not_yet", "final": "not_yet"}
    states = worklist_state(on_day(20), {}, INDEX)
    assert states == {"preop": "due", "postop": "not_yet", "final": "not_yet"}


def test_worklist_for_a_procedure_long_past() -> None:
    states = worklist_state(date(2019, 6, 1), {"preop": date(2019, 5, 30)}, date(2024, 6, 1))
    assert states == {"preop": "done", "postop": "overdue", "final": "overdue"}


def test_worklist_refuses_a_single_string_for_done() -> None:
    with pytest.raises(ClinicalValueError, match="done"):
        worklist_state(INDEX, "postop", on_day(3))


@given(st.sampled_from(["preop", "postop", "m3", "m12", "final"]), st.integers(-400, 800))
def test_worklist_states_only_move_forward_for_a_time_point_without_a_visit(
    key: str, day: int
) -> None:
    chosen = Protocol.from_dict({"timepoints": ["preop", "postop", "m3", "m12", "final"]})
    order = ["not_yet", "upcoming", "due", "overdue"]
    today = worklist_state(INDEX, {}, on_day(day), chosen)
    tomorrow = worklist_state(INDEX, {}, on_day(day + 1), chosen)
    assert set(today) == set(chosen.keys)
    assert all(state in WORKLIST_STATES for state in today.values())
    assert order.index(today[key]) <= order.index(tomorrow[key])


# --- public API --------------------------------------------------------------------------------


def test_public_api_is_pinned() -> None:
    assert set(protocol_module.__all__) == {
        "DAYS_PER_MONTH",
        "DEFAULT_PROTOCOL",
        "DONE",
        "DUE",
        "FINAL_OVERDUE_DAY",
        "FINAL_START_DAY",
        "FIRST_POSTOPERATIVE_DAY",
        "MAX_TARGET_DAY",
        "MIN_HALF_WINDOW_DAYS",
        "NOT_YET",
        "OVERDUE",
        "POSTOP_TARGET_DAY",
        "POSTOP_WINDOW",
        "PREOP_TARGET_DAY",
        "PREOP_WINDOW",
        "UPCOMING",
        "UPCOMING_LEAD_DAYS",
        "WINDOW_FRACTION",
        "WORKLIST_STATES",
        "Protocol",
        "TimePoint",
        "classify",
        "classify_day",
        "day_offset",
        "load_protocol",
        "normalise_key",
        "parse_key",
        "select_final",
        "select_final_visit",
        "worklist_state",
    }
    assert all(hasattr(protocol_module, name) for name in protocol_module.__all__)
