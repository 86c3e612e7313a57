"""Fail on a formula that did not render in the built documentation site.

Usage: python .ci/check_html.py docs/_build/html

MyST's dollarmath turns ``$...$`` and ``$$...$$`` into MathJax spans; a ``$``
left in the text of a page means a formula that did not render. An inline
code span that a line break cut (a line that starts with ``-`` or ``+``
inside it becomes a list item) leaves a raw backtick in the text. Both are
looked for in the text of every page, outside code, literal blocks, maths
and scripts. Exit status 1 lists each, with its page and a snippet.
"""

# SPDX-License-Identifier: BSD-3-Clause

import sys
from html.parser import HTMLParser
from pathlib import Path

# Elements whose text is code or maths: a "$" or "`" there is meant.
_SKIPPED = {"pre", "code", "script", "style", "kbd", "samp", "tt"}
_MATH_CLASSES = {"math"}
# Raw characters that only an unrendered formula or code span leaves behind.
_SUSPECT = ("$", "`")


class _TextOutsideCode(HTMLParser):
    """The text of a page outside code, maths and scripts, in pieces."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack = []
        self.pieces = []

    def handle_starttag(self, tag, attrs):
        if tag in ("br", "img", "hr", "meta", "link", "input", "wbr"):
            return
        classes = set((dict(attrs).get("class") or "").split())
        self.stack.append(tag in _SKIPPED or bool(classes & _MATH_CLASSES))

    def handle_endtag(self, tag):
        if tag in ("br", "img", "hr", "meta", "link", "input", "wbr"):
            return
        if self.stack:
            self.stack.pop()

    def handle_data(self, data):
        if not any(self.stack):
            self.pieces.append(data)


def problems(path):
    """``(page, snippet)`` for each suspect character in a page's text."""
    parser = _TextOutsideCode()
    parser.feed(path.read_text(encoding="utf-8"))
    found = []
    for piece in parser.pieces:
        for index, char in enumerate(piece):
            if char in _SUSPECT:
                snippet = " ".join(piece[max(0, index - 40) : index + 40].split())
                found.append((char, snippet))
    return found


def main(root):
    pages = sorted(Path(root).rglob("*.html"))
    if not pages:
        print(f"no HTML pages under {root}: build the site first", file=sys.stderr)
        return 2
    failures = 0
    for page in pages:
        # Search and index pages hold no prose.
        if page.name in ("search.html", "genindex.html", "py-modindex.html"):
            continue
        for char, snippet in problems(page):
            failures += 1
            where = page.relative_to(root)
            print(f"{where}: raw {char!r} in the text: ...{snippet}...")
    if failures:
        print(f"{failures} unrendered formula(s) or code span(s)", file=sys.stderr)
        return 1
    print(f"{len(pages)} pages checked: every formula and code span rendered")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "docs/_build/html"))
