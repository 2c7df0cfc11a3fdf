"""The console's files keep a strict Content-Security-Policy possible: no inline
script, style or event handler in the page, no markup built from strings."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

STATIC = Path(__file__).parents[2] / "api" / "static"


class Inline(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "script" and "src" not in names:
            self.found.append("inline <script>")
        if tag == "style":
            self.found.append("<style> element")
        self.found += [f"{tag} {name}=" for name in names if name == "style"
                       or name.startswith("on")]


def test_the_page_has_no_inline_script_style_or_handler() -> None:
    parser = Inline()
    parser.feed((STATIC / "index.html").read_text(encoding="utf-8"))
    assert parser.found == []


def test_the_scripts_build_no_markup_from_strings() -> None:
    for path in (STATIC / "js").glob("*.js"):
        code = path.read_text(encoding="utf-8")
        for risky in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write",
                      'setAttribute("style"', "eval(", "new Function"):
            assert risky not in code, f"{path.name} uses {risky}"
