"""The book's prose: numbers come from cells, sections stay short.

Reads the notebooks' JSON and the markdown pages; executes nothing.

* ``test_prose_numbers``: every markdown cell (admonitions, dropdowns and
  solutions included) and every ``book/*.md`` page is scanned for
  *measured-looking* numbers — a number with a unit (%, dB, bpp, ×, s, ms,
  min, h, MB, …) or a ratio written ×N.  Such a number must be glued
  (``{glue:text}`name:.1f` %``) or printed by a cell, not typed.  Not
  scanned: glue and other roles, code spans, fenced code, math, directive
  options, HTML, link targets.  A sentence that cites (``{cite}``) quotes
  the literature and may keep its numbers; an operating point the reader
  chooses ("at 0.25 bpp", "for 32 dB") is an input, not a result; a few
  constants are allowed, each in ``ALLOWED`` with its reason.
* ``test_section_lengths``: a section (the markdown between one ``##`` or
  ``###`` heading and the next heading of level ≤ 3) has at most
  ``MAX_SECTION_WORDS`` words.  Code cells and display math do not count.
* ``test_allow_list_is_used``: every ``ALLOWED`` entry still matches.
* ``test_no_swallowed_lines``: two line breaks MyST reads otherwise than
  the writer meant — a line that starts with ``%`` is a comment (the line
  vanishes from the page), and a line that starts with ``- ``, ``+ ``,
  ``* `` or ``1. `` inside an open ``$…$`` becomes a list item (the math
  shows raw).

Both checks are parametrised by file, so ``pytest -k 06`` checks one
chapter.  ``python tests/test_book_prose.py`` prints every violation and the
word counts of each chapter (its teaching part: all but a "Reproduction
notes" section and its subsections).
"""

import json
import re
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parents[1] / "book"
PAGES = sorted(p.name for p in BOOK.glob("*.ipynb")) + sorted(
    p.name for p in BOOK.glob("*.md"))
CHAPTERS = sorted(p.name for p in BOOK.glob("*.ipynb"))
MAX_SECTION_WORDS = 650

# Constants a page may type.  Keyed by page; each entry is an exact phrase
# (whitespace-insensitive) that contains the flagged number, and why it is
# not a measurement of this book.  Keep it short: a measured number is glued.
ALLOWED = {
    "01_introduction.ipynb": [
        # the table of the paper's claims, quoted as the paper states them
        ("> 20× faster decoding than autoregressive models on 2K images",
         "the paper's claim"),
        ("2.5 %, 1.0 %, 1.3 % BD-rate reduction over VVC",
         "the paper's claims, one per data set"),
    ],
    "04_vae_codec.ipynb": [
        ("×0.1 after 70 %",
         "the training recipe's learning-rate schedule (TrainConfig.lr_drop),"
         " an input like λ"),
    ],
    "06_msp.ipynb": [
        ("dropped ×0.1 at 70 %",
         "the context models' learning-rate schedule, an input like λ"),
        ("auxiliary loss ×0.001",
         "the weight of the bottleneck's auxiliary loss, an input"),
        ("the paper's \"> 20×\" lives", "the paper's speed claim, quoted"),
    ],
    "09_complexity.ipynb": [
        ('"> 20×"', "the paper's speed claim, quoted (cited in the opening)"),
    ],
}

# An operating point the reader chooses — "at 0.25 bpp", "for 32 dB" — is an
# input of the comparison, not its result.
OPERATING_POINT = re.compile(
    r"\b(?:at|for)(?:\s+(?:about|a rate of|a PSNR of))?\s+$", re.I)
OPERATING_UNITS = ("bpp", "dB")

# ---------------------------------------------------------------- parsing

# Directives whose body is code, math or generated, never prose.
NON_PROSE_DIRECTIVES = {
    "code", "code-block", "code-cell", "sourcecode", "literalinclude",
    "math", "raw", "eval-rst", "nb-exec-table", "tableofcontents",
    "glue:figure", "glue:math", "glue:any", "mermaid", "bibliography",
}
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,}|:{3,})\s*(?:\{([^}]*)\})?(.*)$")
OPTION = re.compile(r"^\s*:[A-Za-z][\w-]*:(\s|$)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def _blank(s):
    """Spaces of the same length, newlines kept (spans stay aligned)."""
    return re.sub(r"[^\n]", " ", s)


def _mask_lines(text):
    """Blank fenced code, non-prose directives, fences and option lines.

    Returns the masked text (same length) and the heading lines found
    outside fences as (offset, level, title).
    """
    lines = text.split("\n")
    out, headings, stack, offset = [], [], [], 0
    in_options = in_yaml = False
    for line in lines:
        masked = line
        m = FENCE.match(line)
        top = stack[-1] if stack else None
        if top and top[2] and not (  # inside code: only its close matters
                m and m.group(2)[0] == top[0][0]
                and len(m.group(2)) >= len(top[0])
                and not (m.group(3) or m.group(4).strip())):
            masked = _blank(line)
        elif m and top and m.group(2)[0] == top[0][0] and len(
                m.group(2)) >= len(top[0]) and not (
                m.group(3) or m.group(4).strip()):
            stack.pop()                              # closing fence
            masked = _blank(line)
            in_options = in_yaml = False
        elif m:                                      # opening fence
            name = (m.group(3) or "").strip()
            code = (m.group(3) is None and m.group(2)[0] != ":") or (
                name in NON_PROSE_DIRECTIVES)
            stack.append((m.group(2), name, code))
            # a directive's argument (an admonition's title) is prose
            arg = "" if code else m.group(4)
            masked = _blank(line[:len(line) - len(arg)]) + arg
            in_options = not code
            in_yaml = False
        elif in_yaml:
            masked = _blank(line)
            in_yaml = line.strip() != "---"
        elif in_options and line.strip() == "---":
            masked, in_yaml = _blank(line), True
        elif in_options and OPTION.match(line):
            masked = _blank(line)
        else:
            in_options = False
            h = HEADING.match(line)
            if h:
                headings.append((offset, len(h.group(1)), h.group(2)))
        out.append(masked)
        offset += len(line) + 1
    return "\n".join(out), headings


INLINE = [
    re.compile(r"<!--.*?-->", re.S),                  # comments
    re.compile(r"(?:\{[\w:.-]+\})?(`+)(?:(?!\1).)+?\1", re.S),  # roles, code
    re.compile(r"\$\$.*?\$\$", re.S),                 # display math
    re.compile(r"(?<![\\$])\$(?!\s)[^$\n]+?(?<![\s\\])\$(?!\d)"),  # inline
    re.compile(r"</?[A-Za-z][^>\n]*>"),               # HTML tags
    re.compile(r"(?<=\])\([^)\s]*\)"),                # link targets
    re.compile(r"^\([\w:-]+\)=\s*$", re.M),           # labels
]


def mask(text):
    """The prose of a markdown text; everything else blanked in place."""
    text, headings = _mask_lines(text)
    for pattern in INLINE:
        text = pattern.sub(lambda m: _blank(m.group(0)), text)
    return text, headings


# ---------------------------------------------------------------- numbers

_NUM = r"(?<![\w.,])(?<!\de[+\-−])[+\-−±~≈]?\d+(?:[.,]\d+)*"
_SP = r"[ \u00a0\u202f\u2009]?"
_UNIT = (r"(?:%|percent\b|percentage[ \u00a0]points?\b|pp\b|dB\b|bpp\b"
         r"|[kKMGT]i?B\b|ms\b|µs\b|us\b|s\b|secs?\b|seconds?\b|min\b"
         r"|minutes?\b|h\b|hours?\b|fps\b"
         r"|×(?!" + _SP + r"\d)|(?<=\d)x(?![\w]))")
MEASURED = [
    ("number with unit", re.compile(_NUM + _SP + _UNIT)),
    # ×N written before the number (a ratio), not the 5×5 of a size
    ("ratio", re.compile(r"(?<!\d[ \u00a0\u202f\u2009])(?<![\d\w])×"
                         + _SP + r"\d+(?:\.\d+)?")),
    ("scientific notation", re.compile(
        r"(?<![\w.])\d+(?:\.\d+)?e[+\-−]?\d+\b")),
]
_BOUNDARY = re.compile(r"[.!?](?=\s)|\n[ \t]*\n|\n(?=[ \t]*(?:[-*+]|\d+\.)"
                       r"[ \t])|\n(?=[ \t]*\|)|(?<=\|)[ \t]*\n|\n(?=#)")


def _sentence(text, masked, start, end):
    """The sentence around a span (boundaries read from the masked text)."""
    a = max([m.end() for m in _BOUNDARY.finditer(masked, 0, start)],
            default=0)
    b = next((m.start() for m in _BOUNDARY.finditer(masked, end)),
             len(masked))
    return text[a:b + 1]


def _phrase_spans(text, phrase):
    words = [re.escape(w) for w in phrase.split()]
    return [m.span() for m in re.finditer(r"\s+".join(words), text)]


def markdown_cells(page):
    """(cell id, markdown source) of a page; a .md page is one 'cell'."""
    path = BOOK / page
    if path.suffix == ".md":
        return [("page", path.read_text())]
    nb = json.loads(path.read_text())
    return [(c.get("id", f"#{i}"), "".join(c["source"]))
            for i, c in enumerate(nb["cells"]) if c["cell_type"] == "markdown"]


def text_violations(text, allowed=()):
    """Typed measured-looking numbers of one markdown text.

    Returns (kind, number, phrase around it) for each; ``allowed`` holds
    (phrase, reason) pairs whose numbers are let through.
    """
    masked, _ = mask(text)
    ok = [s for phrase, _ in allowed for s in _phrase_spans(text, phrase)]
    found, seen = [], []
    for kind, pattern in MEASURED:
        for m in pattern.finditer(masked):
            s, e = m.span()
            if any(s < e2 and s2 < e for s2, e2 in seen):
                continue                         # found by an earlier kind
            seen.append((s, e))
            if any(a <= s and e <= b for a, b in ok):
                continue                         # an allowed constant
            if "{cite}" in _sentence(text, masked, s, e):
                continue                         # the literature, cited
            if m.group(0).endswith(OPERATING_UNITS) and \
                    OPERATING_POINT.search(masked[max(0, s - 40):s]):
                continue                         # a chosen operating point
            phrase = " ".join(text[max(0, s - 30):e + 15].split())
            found.append((kind, m.group(0).strip(), phrase))
    return found


def number_violations(page):
    """(cell id, kind, number, phrase) of every typed number of a page."""
    allowed = ALLOWED.get(page, [])
    return [(cell, *v) for cell, text in markdown_cells(page)
            for v in text_violations(text, allowed)]


# ---------------------------------------------------------------- words

def _count(text):
    return sum(1 for w in text.split() if re.search(r"\w", w))


def _prose_for_words(text):
    """Markdown for a word count: no code, display math, comments, options."""
    text, headings = _mask_lines(text)
    for pattern in (INLINE[0], INLINE[2], INLINE[-1]):  # comments, $$, labels
        text = pattern.sub(lambda m: _blank(m.group(0)), text)
    return text, headings


def sections(page):
    """(heading, level, words) of each section, in page order.

    A section runs from a heading of level ≤ 3 to the next one; deeper
    headings stay inside.  The text before the first ``##`` is the title's
    section.
    """
    out = [["(before the first heading)", 0, 0]]
    for _, text in markdown_cells(page):
        prose, headings = _prose_for_words(text)
        pos = 0
        for offset, level, title in headings:
            if level > 3:
                continue
            out[-1][2] += _count(prose[pos:offset])
            out.append([title, level, 0])
            pos = offset + len(prose[offset:].split("\n", 1)[0])
        out[-1][2] += _count(prose[pos:])
    return [tuple(s) for s in out if s[1] or s[2]]


def word_counts(page):
    """(teaching words, all markdown words) of a chapter.

    The teaching part leaves out a "Reproduction notes" section with its
    subsections (up to the next heading of its level or higher).
    """
    total = teaching = 0
    repro_level = None
    for title, level, words in sections(page):
        if repro_level and level and level <= repro_level:
            repro_level = None
        if "reproduction notes" in title.lower():
            repro_level = level
        total += words
        teaching += 0 if repro_level else words
    return teaching, total


# ---------------------------------------------------------------- tests

@pytest.mark.parametrize("page", PAGES)
def test_prose_numbers(page):
    found = number_violations(page)
    assert not found, (
        f"{page}: measured-looking numbers typed in prose; glue them from "
        "the cell that computes them (or allow a constant in ALLOWED):\n"
        + "\n".join(f"  cell {c}: {kind} '{hit}' in \"…{phrase}…\""
                    for c, kind, hit, phrase in found))


@pytest.mark.parametrize("page", CHAPTERS)
def test_section_lengths(page):
    teaching, total = word_counts(page)
    print(f"{page}: {teaching} teaching words of {total}")
    long = [(t, w) for t, _, w in sections(page) if w > MAX_SECTION_WORDS]
    assert not long, (
        f"{page}: sections over {MAX_SECTION_WORDS} words (split them under "
        "a new heading or shorten):\n"
        + "\n".join(f"  '{t}': {w} words" for t, w in long))


@pytest.mark.parametrize("page", sorted(ALLOWED))
def test_allow_list_is_used(page):
    texts = [text for _, text in markdown_cells(page)]
    unused = [p for p, _ in ALLOWED[page]
              if not any(_phrase_spans(t, p) for t in texts)]
    assert not unused, f"{page}: ALLOWED phrases no longer in the page: " \
        f"{unused}"


def swallowed_lines(text):
    """(line number, line) of lines outside code that MyST would not show
    as the writer meant: comments (``%``) and list markers that split an
    inline ``$…$``."""
    found, fence, dollars = [], None, 0
    for n, line in enumerate(text.split("\n"), 1):
        stripped = line.strip()
        if fence:
            if stripped.startswith(fence):
                fence = None
            continue
        m = re.match(r"(`{3,}|~{3,})", stripped)
        if m and not stripped.startswith(m[1] + "{"):
            fence = m[1]                       # a code block: not prose
            continue
        if not stripped:
            dollars = 0                        # a paragraph ends
            continue
        if stripped.startswith("%") or (dollars % 2 and re.match(
                r"([-+*]|\d+[.)])\s", stripped)):
            found.append((n, line))
        dollars += len(re.findall(r"(?<![\\$])\$(?!\$)", line))
    return found


@pytest.mark.parametrize("page", PAGES)
def test_no_swallowed_lines(page):
    found = [(c, n, line) for c, text in markdown_cells(page)
             for n, line in swallowed_lines(text)]
    assert not found, f"{page}: lines MyST reads as a comment or a list " \
        "item (re-wrap them):\n" + "\n".join(
            f"  cell {c}, line {n}: {line!r}" for c, n, line in found)


def test_swallowed_lines_on_a_sample():
    text = ("one $x\n- y$ two\n% gone\n\n- a real item\n"
            "$$\n- z\n$$\n```python\n% not prose\n```\n")
    assert [n for n, _ in swallowed_lines(text)] == [2, 3]


def test_scanner_on_a_sample():
    text = ("## A\n\nWe measure 12.5 % and 0.3 dB, a ×1.7 speed-up, "
            "20x faster, 3 s.\nA 5×5 mask on 768×512 images; "
            "{glue:text}`r:.1f` % and `12 %` and $x = 3\\,\\%$.\n"
            "Ballé et al. {cite}`balle` report 10 %.  At 0.25 bpp it "
            "reaches 31.2 dB, the paper's 2.5 % claim.\n\n"
            "```{admonition} Solution, ×2\n:class: dropdown\n:width: 50%\n"
            "It saves 4 ms.\n```\n\n```python\nprint('9 %')\n```\n")
    hits = [hit for _, hit, _ in text_violations(
        text, [("the paper's 2.5 % claim", "a cited constant")])]
    assert sorted(hits) == sorted(
        ["12.5 %", "0.3 dB", "×1.7", "20x", "3 s", "31.2 dB", "×2",
         "4 ms"]), hits
    assert mask(text)[1] == [(0, 2, "A")]


def test_sections_split_at_level_three():
    text = ("# T\n\nintro words here\n\n## One\n\na b c\n\n"
            "#### deep\n\nd e\n\n```python\nx = 1 + 2\n```\n\n"
            "$$ y = 1 $$\n\n### Two\n\nf g\n")
    prose, headings = _prose_for_words(text)
    assert [h[1:] for h in headings] == [(1, "T"), (2, "One"), (4, "deep"),
                                         (3, "Two")]
    assert _count(prose) == 1 + 3 + 1 + 3 + 1 + 2 + 1 + 2   # no code, no $$


if __name__ == "__main__":
    for page in PAGES:
        for c, kind, hit, phrase in number_violations(page):
            print(f"{page} cell {c}: {kind} '{hit}' in \"…{phrase}…\"")
    for page in CHAPTERS:
        teaching, total = word_counts(page)
        print(f"{page}: {teaching} teaching words of {total}; sections:")
        for t, level, w in sections(page):
            flag = "  <-- over" if w > MAX_SECTION_WORDS else ""
            print(f"    {'#' * level} {t}: {w}{flag}")
