"""Every page text has a Chinese translation, and a Chinese one is Chinese."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

import kyphos.web
from kyphos.web.i18n import catalogue_paths, read_catalogue

WEB = Path(kyphos.web.__file__).parent
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
NO_CJK_NEEDED = frozenset({"VAS (cm)", "ODI (%)"})
"""Short technical terms that read the same in Chinese."""


def _messages() -> set[str]:
    method_map = [("**.py", "python"), ("templates/**.html", "jinja2.ext:babel_extract")]
    return {
        message
        for _, _, message, _, _ in extract_from_dir(str(WEB), method_map=method_map)
        if isinstance(message, str)
    }


def _chinese() -> dict[str, str]:
    merged: dict[str, str] = {}
    for path in catalogue_paths("zh"):
        merged.update(read_catalogue(path, "zh"))
    return merged


def test_no_message_is_translated_in_two_catalogues() -> None:
    seen: dict[str, str] = {}
    twice = []
    for path in catalogue_paths("zh"):
        with path.open("rb") as handle:
            for message in read_po(handle):
                if message.id and str(message.id) in seen:
                    twice.append(f"{message.id!r}: {seen[str(message.id)]} and {path.name}")
                elif message.id:
                    seen[str(message.id)] = path.name
    assert len(catalogue_paths("zh")) >= 1
    assert twice == []


def test_the_extraction_finds_the_page_texts() -> None:
    found = _messages()
    assert {"Sign in", "Dashboard", "Patients", "Wrong user name or password."} <= found


def test_every_page_text_has_a_chinese_translation() -> None:
    chinese = _chinese()
    missing = sorted(m for m in _messages() if not chinese.get(m))
    assert missing == []


def test_every_chinese_text_has_a_chinese_character_unless_listed() -> None:
    not_chinese = sorted(
        m for m, text in _chinese().items() if m not in NO_CJK_NEEDED and not CJK.search(text)
    )
    assert not_chinese == []


def test_placeholders_survive_translation() -> None:
    placeholder = re.compile(r"\{[a-z_]+\}")
    for message, text in _chinese().items():
        assert sorted(placeholder.findall(message)) == sorted(placeholder.findall(text)), message
