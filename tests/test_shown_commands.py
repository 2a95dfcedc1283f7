"""The commands shown to users (README, --help epilogs, the demo summary) run as written on Debian.

Debian has no ``python`` command and the project's packages are in ``.venv``: every command is
``.venv/bin/python SCRIPT ...``. Each shown command names an existing script, and every long option it uses is
one that script's ``--help`` lists.
"""

from __future__ import annotations

import functools
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
#: The scripts whose --help epilogs show commands.
SCRIPTS_WITH_EXAMPLES = ("get_staff_stats.py", "scripts/overlay.py", "scripts/plot_stats.py",
                         "scripts/get_calibrated_aia.py", "scripts/make_synthetic_aia.py")
_BARE_PYTHON = re.compile(r"(?<![\w/.-])python3? +[\w./-]+\.py")
_COMMAND = re.compile(r"\.venv/bin/python +([\w./-]+\.py)((?:[^\n`]|\\\n)*)")


@functools.lru_cache(maxsize=None)
def _help(script: str) -> str:
    result = subprocess.run([sys.executable, str(REPO_ROOT / script), "--help"], capture_output=True, text=True,
                            check=False, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _shown_texts() -> dict[str, str]:
    texts = {"README.md": (REPO_ROOT / "README.md").read_text(encoding="utf-8")}
    texts.update({f"{script} --help": _help(script) for script in SCRIPTS_WITH_EXAMPLES})
    return texts


@pytest.fixture(scope="module")
def shown() -> dict[str, str]:
    return _shown_texts()


def test_no_bare_python_command(shown: dict[str, str]) -> None:
    for where, text in shown.items():
        bare = _BARE_PYTHON.findall(text)
        assert not bare, f"{where} shows {bare}: Debian has no `python`, use .venv/bin/python"


def test_shown_commands_use_existing_scripts_and_options(shown: dict[str, str]) -> None:
    count = 0
    for where, text in shown.items():
        for script, arguments in _COMMAND.findall(text):
            count += 1
            assert (REPO_ROOT / script).is_file(), f"{where}: {script} does not exist"
            if script == "scripts/run_demo.py":
                continue
            for option in re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", arguments):
                assert option in _help(script), f"{where}: {script} has no option {option}"
    assert count >= 10


def test_demo_summary_shows_the_venv_interpreter() -> None:
    from scripts.run_demo import _shown

    assert _shown(REPO_ROOT / ".venv" / "bin" / "python") == ".venv/bin/python"
