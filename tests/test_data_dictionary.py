"""docs/data-dictionary.md is generated from the importer's schema and must match it."""

from __future__ import annotations

from pathlib import Path

from kyphos.exchange.dictionary import render_markdown
from kyphos.exchange.schema import SHEETS

DICTIONARY = Path(__file__).resolve().parents[1] / "docs" / "data-dictionary.md"


def test_data_dictionary_in_docs_matches_the_importer_schema() -> None:
    assert DICTIONARY.read_text(encoding="utf-8") == render_markdown(), (
        "docs/data-dictionary.md is stale: run "
        "`.venv/bin/python -m kyphos.exchange.dictionary > docs/data-dictionary.md`"
    )


def test_data_dictionary_lists_every_sheet_and_column_of_data_md() -> None:
    text = render_markdown()
    # The sheets and a sample of columns named in DATA.md §1, written out here.
    for sheet in (
        "patients",
        "identity",
        "vertebrae",
        "procedures",
        "visits",
        "measurements",
        "adverse_events",
    ):
        assert f"## `{sheet}`" in text
    for column in ("bmd_t_score", "mri_stir", "cement_volume_ml", "odi_10", "kyphotic_angle_deg"):
        assert f"| `{column}` |" in text
    assert SHEETS[0].name == "patients"


def test_every_column_has_an_english_and_a_chinese_note() -> None:
    for sheet in SHEETS:
        for column in sheet.columns:
            assert column.note_en.strip(), f"{sheet.name}.{column.name}"
            assert column.note_zh.strip(), f"{sheet.name}.{column.name}"
            assert any("\u4e00" <= ch <= "\u9fff" for ch in column.note_zh), column.name
