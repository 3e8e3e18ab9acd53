from __future__ import annotations

import pytest

from kyphos.clinical import ClinicalValueError, levels


@pytest.mark.parametrize(
    ("text", "level"),
    [("t12", "T12"), ("T 12", "T12"), (" T12 ", "T12"), ("c7", "C7"), ("L1", "L1"), ("T09", "T9")],
)
def test_parse_level_reads_the_ways_people_write_a_level(text: str, level: str) -> None:
    assert levels.parse_level(text) == level


@pytest.mark.parametrize("text", ["T13", "L6", "S1", "T0", "C6", "X3", "", "12", "TT12", "T1 2"])
def test_parse_level_refuses_levels_that_do_not_exist_or_lie_outside_the_range(text: str) -> None:
    with pytest.raises(ClinicalValueError, match=r"C7, T1–T12, L1–L5"):
        levels.parse_level(text)


def test_parse_level_refuses_non_text() -> None:
    with pytest.raises(ClinicalValueError, match="level"):
        levels.parse_level(12)


def test_levels_run_from_c7_to_l5_in_order() -> None:
    assert levels.LEVELS[0] == "C7"
    assert levels.LEVELS[-1] == "L5"
    assert len(levels.LEVELS) == 1 + 12 + 5
    assert levels.sort_levels(["L1", "t9", "T12", "C7", "L1"]) == ["C7", "T9", "T12", "L1"]


def test_adjacent_levels_cross_the_thoracolumbar_junction() -> None:
    assert levels.adjacent("T12") == ("T11", "L1")
    assert levels.adjacent("L1") == ("T12", "L2")
    assert levels.adjacent("C7") == (None, "T1")
    assert levels.adjacent("L5") == ("L4", None)
    assert levels.are_adjacent("T12", "l1")
    assert not levels.are_adjacent("T11", "L1")


def test_expand_range_lists_every_level_head_to_tail() -> None:
    assert levels.expand_range("T9-L2") == ["T9", "T10", "T11", "T12", "L1", "L2"]
    assert levels.expand_range("L2–T9") == ["T9", "T10", "T11", "T12", "L1", "L2"]
    assert levels.expand_range("t11 to t12") == ["T11", "T12"]
    assert levels.expand_range("L3") == ["L3"]


@pytest.mark.parametrize("text", ["", "T9-", "T9-L2-L3", "T9-L6"])
def test_expand_range_refuses_malformed_ranges(text: str) -> None:
    with pytest.raises(ClinicalValueError):
        levels.expand_range(text)


def test_regions_have_bilingual_labels() -> None:
    assert levels.region("T9") == "thoracic"
    assert levels.region("l4") == "lumbar"
    assert levels.REGION_LABELS["lumbar"]["zh"] == "腰椎"
