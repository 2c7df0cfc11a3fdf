"""The console's files keep a strict Content-Security-Policy possible: no inline
script, style or event handler in the page, no markup built from strings; and every
text it shows is in the i18n table, in both languages."""

from __future__ import annotations

import re
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


# -- every text the console shows goes through the i18n table ---------------------------

CJK = re.compile("[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")
ENTRY = re.compile(r'(?:"([\w.]+)"|([A-Za-z_]\w*))\s*:\s*"(?:[^"\\]|\\.)*"')


def table(language: str) -> set[str]:
    code = (STATIC / "js" / "i18n.js").read_text(encoding="utf-8")
    start = code.index(f"const {language} = {{")
    block = code[start:code.index("\n};", start)]
    return {quoted or bare for quoted, bare in ENTRY.findall(block)}


def test_chinese_text_is_only_in_the_i18n_table() -> None:
    for path in (STATIC / "js").glob("*.js"):
        if path.name == "i18n.js":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("//")[0]  # a comment may quote what the console shows
            assert not CJK.search(code), f"{path.name}:{number} shows text not in i18n.js"


def test_both_languages_have_every_key_the_console_names() -> None:
    zh, en = table("zh"), table("en")
    assert len(zh) > 100
    assert zh == en, (sorted(zh - en), sorted(en - zh))
    named = set(re.findall(r'data-i18n(?:-label)?="([\w.]+)"',
                           (STATIC / "index.html").read_text(encoding="utf-8")))
    prefixes = {key.split(".")[0] for key in zh if "." in key}  # "login", "error", ...
    for path in (STATIC / "js").glob("*.js"):
        for literal in re.findall(r'"(\w+\.[\w.]+)"', path.read_text(encoding="utf-8")):
            if literal.split(".")[0] in prefixes:  # not a file name or a storage key
                named.add(literal)
    assert {"export.done", "login.lost", "title.critical", "action.trend"} <= named
    assert named <= zh, sorted(named - zh)
