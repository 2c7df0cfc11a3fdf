"""Every `.md` file the repository cites exists in it: code, docs and configuration
point at docs/ (docs/contract.md, docs/alarms.md, docs/development.md, ...), never at
a document someone with only the clone cannot open."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).parents[2]
TEXT = {".py", ".md", ".yaml", ".yml", ".toml", ".sh", ".conf", ".json", ".js", ".html",
        ".txt", ".example", ".cfg", ".ini"}
WRITTEN = {"report.md"}  # a file the benchmark writes into its results folder, not a document
CITED = re.compile(r"(?<![\w.:/-])((?:\.{1,2}/)?[\w./-]*[\w-]\.md)\b")


def repository_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")
    return [ROOT / name for name in listed if name and (ROOT / name).is_file()]


def cited(path: Path) -> set[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return set()
    text = re.sub(r"https?://\S+", "", text)  # a web page may end in .md: not ours
    return set(CITED.findall(text))


def exists(name: str, cited_in: Path, markdown: set[str]) -> bool:
    if "/" in name:
        return (ROOT / name).is_file() or (cited_in.parent / name).resolve().is_file()
    return (cited_in.parent / name).is_file() or name in markdown


def test_every_cited_markdown_file_is_in_the_repository() -> None:
    files = repository_files()
    markdown = {f.name for f in files if f.suffix == ".md"}
    missing = sorted(
        f"{path.relative_to(ROOT)}: {name}"
        for path in files
        if (path.suffix in TEXT or path.name == "Dockerfile") and path != Path(__file__)
        for name in cited(path) - WRITTEN
        if not exists(name, path, markdown)
    )
    assert missing == [], "cited but not in the repository:\n" + "\n".join(missing)


def test_the_check_finds_a_missing_document(tmp_path: Path) -> None:
    note = tmp_path / "note.py"
    note.write_text('"""Per ALARMS.md §3 and docs/contract.md §2; see ../x/standards.md."""\n')
    assert cited(note) == {"ALARMS.md", "docs/contract.md", "../x/standards.md"}
    assert not exists("ALARMS.md", note, {"README.md"})
    assert exists("docs/contract.md", note, set())
