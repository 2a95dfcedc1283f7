"""Every compatibility reference in the code resolves inside the repository.

Code comments cite our compatibility contract with the original SPoCA suite,
``docs/spoca-compatibility.md``, as ``compat N.N`` (a section, e.g. ``compat 5.5``, ``compat 4.1 step 7,
4.3``, ``compat 2.1 to 2.6``) and ``quirk Qn`` (a quirk kept on purpose, e.g. ``quirk Q4``). These tests
scan the project's code files (``*.py``, ``*.cpp``, ``*.hpp``, ``*.mk``, ``Makefile``; not ``.venv``, the build
outputs, ``demo``, ``bench`` nor this file) and check that

- every cited section number is the number of a heading of the document, and every cited quirk has its
  ``### Qn`` heading (one test per reference, failing with the file and line that cite it);
- no code still cites the external behaviour specification (the word "spec" followed by a section number,
  "section" and a number, or a quirk), which lives outside the repository, so a reader of the code could not
  follow the reference;
- every repository path the document names in backticks exists, so the document's "where in the code"
  stays true when files move.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import NamedTuple

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCUMENT = REPO_ROOT / "docs" / "spoca-compatibility.md"

#: Folders that hold no project code (the shared venv, build outputs, generated demo and benchmark files).
EXCLUDED_FOLDERS = {".venv", ".git", "demo", "bench", "__pycache__", ".pytest_cache", ".ruff_cache"}
EXCLUDED_PATHS = {Path("SPoCA/objects"), Path("SPoCA/bin")}
CODE_SUFFIXES = {".py", ".cpp", ".hpp", ".mk"}

#: A section number: "5", "5.5", "10.2".
_NUMBER = r"\d+(?:\.\d+)*"
#: What may follow a cited number before the next one: "step 7", "steps 3-4", "steps 3 to 6", "sortB".
_STEP = r"\s+steps?\s+\d+(?:\s*(?:-|to|and)\s*\d+)?"
_STEPS = rf"(?:{_STEP})?"
#: One reference to the document and the numbers listed after it ("compat 4.1 step 7, 4.3, 6.2 step 1",
#: "compat 2.1 to 2.6", "compat 2.4 and 8.3", "compat 2.4 / 8.3").
COMPAT_REFERENCE = re.compile(
    rf"\bcompat\s+(?:sections?\s+)?(?P<numbers>{_NUMBER}{_STEPS}(?:\s*(?:,|and|to|/)\s*{_NUMBER}{_STEPS})*)",
    re.IGNORECASE,
)
STEP_CLAUSE = re.compile(_STEP)
LISTED_NUMBER = re.compile(rf"(?:^|,|\band\b|\bto\b|/)\s*({_NUMBER})")
QUIRK_REFERENCE = re.compile(r"\bQ(\d+)\b")
#: The external specification's form, which the code must no longer use.
SPEC_REFERENCE = re.compile(r"\bspec(?:ification)?(?:'s)?\s+(?:sections?\s+|quirks?\s+)?(?:Q?\d)", re.IGNORECASE)

#: Headings "## 5. Classifiers", "### 5.5 Initial centres ...", "### Q4 ...".
SECTION_HEADING = re.compile(rf"^#{{2,4}}\s+({_NUMBER})\.?\s", re.MULTILINE)
QUIRK_HEADING = re.compile(r"^#{2,4}\s+Q(\d+)\b", re.MULTILINE)
#: A backticked token: a repository path when it starts with a top-level entry or ends in a code suffix.
BACKTICKED = re.compile(r"`([^`\s]+)`")
PATH_LIKE = re.compile(r"^[\w.*-]+(?:/[\w.*-]+)*/?$")
PATH_SUFFIXES = {".py", ".cpp", ".hpp", ".mk", ".sh", ".config", ".ini", ".md", ".toml"}


class Reference(NamedTuple):
    """One cited section or quirk, with the place that cites it."""

    target: str
    where: str

    def __str__(self) -> str:
        return f"{self.target}@{self.where}"


def code_files() -> list[Path]:
    """The project's code files, sorted, without this test file (excluded folders are not even walked)."""
    files = []
    for folder, subfolders, names in os.walk(REPO_ROOT):
        here = Path(folder)
        subfolders[:] = [name for name in subfolders if name not in EXCLUDED_FOLDERS
                         and (here / name).relative_to(REPO_ROOT) not in EXCLUDED_PATHS]
        for name in names:
            path = here / name
            if (path.suffix in CODE_SUFFIXES or name == "Makefile") and path.resolve() != Path(__file__).resolve():
                files.append(path)
    return sorted(files)


def _lines() -> list[tuple[str, str]]:
    """(``file:line``, text) for every line of every code file."""
    lines = []
    for path in code_files():
        relative = path.relative_to(REPO_ROOT).as_posix()
        text = path.read_text(encoding="utf-8", errors="replace")
        lines.extend((f"{relative}:{number}", line) for number, line in enumerate(text.splitlines(), start=1))
    return lines


def listed_sections(numbers: str) -> list[str]:
    """The section numbers of a reference's list ("4.1 step 7, 4.3" gives 4.1 and 4.3, not the step)."""
    return LISTED_NUMBER.findall(STEP_CLAUSE.sub("", numbers))


def cited_references() -> list[Reference]:
    """Every section ("5.5") and quirk ("Q4") the code cites, once per line that cites it."""
    references = []
    for where, line in _lines():
        sections = []
        for match in COMPAT_REFERENCE.finditer(line):
            sections.extend(listed_sections(match.group("numbers")))
        quirks = [f"Q{number}" for number in QUIRK_REFERENCE.findall(line)]
        references.extend(Reference(target, where) for target in dict.fromkeys(sections + quirks))
    return references


def old_spec_citations() -> list[str]:
    """``file:line: text`` of every line that still cites the external specification."""
    return [f"{where}: {line.strip()}" for where, line in _lines() if SPEC_REFERENCE.search(line)]


def _document_text() -> str:
    return DOCUMENT.read_text(encoding="utf-8") if DOCUMENT.is_file() else ""


def document_headings() -> set[str]:
    """The section numbers ("5", "5.5") and quirks ("Q4") that have a heading in the document."""
    text = _document_text()
    return set(SECTION_HEADING.findall(text)) | {f"Q{number}" for number in QUIRK_HEADING.findall(text)}


def document_paths() -> list[str]:
    """The repository paths the document names in backticks (a glob such as ``SPoCA/lib/selection.*`` too)."""
    top_level = {entry.name for entry in REPO_ROOT.iterdir()}
    paths = []
    for token in BACKTICKED.findall(_document_text()):
        if token.startswith("/") or not PATH_LIKE.match(token):
            continue
        if token.split("/")[0] in top_level or Path(token).suffix in PATH_SUFFIXES:
            paths.append(token)
    return list(dict.fromkeys(paths))


def test_the_document_exists_and_numbers_its_sections() -> None:
    assert DOCUMENT.is_file(), f"{DOCUMENT.relative_to(REPO_ROOT)} is missing"
    headings = document_headings()
    assert {"5", "5.5", "Q1"} <= headings, f"headings found: {sorted(headings)}"


def test_the_code_cites_the_document() -> None:
    """Guards the parametrised test below: without references it would pass vacuously."""
    assert len(cited_references()) > 100


@pytest.mark.parametrize("reference", cited_references(), ids=str)
def test_reference_resolves_to_a_heading(reference: Reference) -> None:
    kind = "quirk" if reference.target.startswith("Q") else "section"
    assert reference.target in document_headings(), (
        f"{reference.where} cites {kind} {reference.target}, which has no heading in "
        f"{DOCUMENT.relative_to(REPO_ROOT)}"
    )


def test_no_code_cites_the_external_specification() -> None:
    citations = old_spec_citations()
    assert not citations, (
        "cite docs/spoca-compatibility.md as 'compat N.N' (or 'quirk Qn'), not the external spec:\n"
        + "\n".join(citations)
    )


def test_the_document_names_paths() -> None:
    """Guards the parametrised test below: the document must say where things are implemented."""
    assert len(document_paths()) > 20


@pytest.mark.parametrize("path", document_paths())
def test_path_named_in_the_document_exists(path: str) -> None:
    matches = list(REPO_ROOT.glob(path)) if "*" in path else [REPO_ROOT / path]
    assert matches and all(match.exists() for match in matches), (
        f"{DOCUMENT.relative_to(REPO_ROOT)} names `{path}`, which is not in the repository"
    )


def test_reference_patterns() -> None:
    """The forms the comments use are read as intended, and the non-reference uses of "spec" are not.

    The examples of the old form are split in two literals so that a mechanical rewrite of the code's
    references (from "spec" and a number to "compat" and the number) leaves them alone.
    """
    numbers = [listed_sections(m.group("numbers"))
               for m in COMPAT_REFERENCE.finditer("(compat 4.1 step 7, 4.3, 6.2 step 1) compat 2.1 to 2.6; "
                                                  "compat 8.6 steps 3 to 6: read; compat 12, offsets 1708-1709; "
                                                  "Compat 8.5 steps 1 and 2")]
    assert numbers == [["4.1", "4.3", "6.2"], ["2.1", "2.6"], ["8.6"], ["12"], ["8.5"]]
    assert [bool(SPEC_REFERENCE.search(text)) for text in (
        "spec " "5.5", "Spec " "9, CROTA2", "spec section " "12", "spec quirk " "Q1", "the spec says about 12 %",
        "test_select_matches_the_spec_exactly", "requirement.specifier", "compat 5.5")] == [
        True, True, True, True, False, False, False, False]
