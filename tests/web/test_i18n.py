"""Every page text has a Chinese translation, and a Chinese one is Chinese."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

import kyphos.web
from kyphos.web.i18n import catalogue_path

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
    with catalogue_path("zh").open("rb") as handle:
        return {str(m.id): str(m.string) for m in read_po(handle) if m.id}


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
