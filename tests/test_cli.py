"""The command line: the tour, languages, and user errors without tracebacks."""

from __future__ import annotations

import subprocess
import sys


def run_kyphos(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kyphos", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_tour_prints_the_reference_cases_in_english() -> None:
    result = run_kyphos("tour")
    assert result.returncode == 0, result.stderr
    assert "raw 16/45, 35.56 %" in result.stdout
    assert "wedge angle 18.43°" in result.stdout
    assert "compression 44.4 %" in result.stdout
    assert "58.3 % of the lost height" in result.stdout
    assert "visit on day +10 → postop" in result.stdout


def test_tour_speaks_chinese() -> None:
    result = run_kyphos("tour", "--lang", "zh")
    assert result.returncode == 0, result.stderr
    assert "中度功能障碍" in result.stdout
    assert "术后1周" in result.stdout


def test_unknown_language_is_one_line_on_stderr_and_exit_2() -> None:
    result = run_kyphos("tour", "--lang", "fr")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: --lang: 'fr' is not a language kyphos speaks (en, zh)"
    assert "Traceback" not in result.stderr


def test_version_is_printed() -> None:
    result = run_kyphos("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("kyphos ")
