r"""Open every page of the built book in headless Chromium, as a reader
would, and fail on what a reader would see go wrong.

    python tests/check_rendered_book.py HTML_DIR [--screenshots DIR]

For each page Chromium renders the DOM (``--dump-dom``) and takes a
screenshot of the whole page (a window 12,000 pixels tall).  Chromium runs
with no network at all (every host name fails to resolve and every other
request goes to a dead proxy; only ``file://`` loads), so a page that needs
a CDN fails here as it would for an offline reader.  A page fails on: a
Python traceback, a cell's stderr or error output, a Sphinx error box
(``system-message``, ``problematic``), an image that is missing or not a
readable picture, a chapter page without any figure, math that MathJax did
not typeset (a raw ``\(``, ``\)``, ``\[``, ``\]`` or ``$$`` in the visible
text, outside code blocks) or that it typeset as a TeX error, or a blank
screenshot.  Run by ``make browser-check`` after the book is built
(``make test`` does both); Chromium is Debian's package (``make
system-deps`` installs it).
"""

from __future__ import annotations

import argparse
import html
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
from PIL import Image

#: Flags for a root user; the last three cut Chromium off any network
#: (loopback included): host names do not resolve, and requests to an IP
#: go to a proxy on a closed port.  Pages load as ``file://`` all the same.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync",
         "--allow-file-access-from-files", "--hide-scrollbars",
         "--virtual-time-budget=5000",
         "--host-resolver-rules=MAP * ~NOTFOUND",
         "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>"]
#: Classes that mark an error a reader would see.
BAD_CLASSES = re.compile(r'class="[^"]*\b(traceback|stderr|output_error|'
                         r'system-message|problematic)\b')
IMG = re.compile(r'<img\b[^>]*\bsrc="([^"]+)"')
CHAPTER = re.compile(r"^\d\d_.*\.html$")
#: Elements whose text a reader does not see as prose: scripts (MathJax's
#: own ``math/tex`` ones included), code, and what MathJax typeset.
HIDDEN = re.compile(r"<(script|style|noscript|template|textarea|pre|code|"
                    r"mjx-container)\b.*?</\1\s*>|<!--.*?-->",
                    re.I | re.S)
TAG = re.compile(r"<[^>]*>")
#: TeX delimiters that are only left in the text if MathJax never ran.
RAW_MATH = re.compile(r"\\[()\[\]]|\$\$")
#: How MathJax 3 shows TeX it could not parse.
MATH_ERROR = re.compile(r"<mjx-merror\b([^>]*)>", re.I)
ERROR_TEXT = re.compile(r'\bdata-mjx-error="([^"]*)"')


def visible_text(dom: str) -> str:
    """The text of the page's body as a reader sees it (not code)."""
    body = re.search(r"<body\b.*", dom, re.I | re.S)
    text = HIDDEN.sub(" ", body.group(0) if body else dom)
    return html.unescape(TAG.sub(" ", text))


def raw_math(dom: str) -> list[str]:
    """Problems with the math of a rendered page: TeX left untypeset in
    the visible text (MathJax did not load or run), or a TeX error."""
    problems = []
    text = visible_text(dom)
    found = sorted(set(RAW_MATH.findall(text)))
    if found:
        m = RAW_MATH.search(text)
        snippet = " ".join(text[max(0, m.start() - 30):m.end() + 40].split())
        problems.append(f"raw math not typeset ({' '.join(found)}), "
                        f'e.g. "{snippet}"')
    for attrs in sorted(set(MATH_ERROR.findall(dom))):
        err = ERROR_TEXT.search(attrs)
        problems.append("a TeX error in math"
                        + (f": {html.unescape(err.group(1))}" if err else ""))
    return problems


def chromium() -> str:
    for name in (os.environ.get("CHROMIUM", ""), "chromium",
                 "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    sys.exit("headless Chromium not found: install Debian's 'chromium' "
             "package (make system-deps does it) or set $CHROMIUM")


def _run(browser: str, args: list[str], profile: str, tries: int = 2) -> str:
    """Chromium's output; a crash of the browser itself (seen once in a
    few hundred runs, a D-Bus error on a busy 2-core machine) is retried
    once, since it says nothing about the page."""
    for _ in range(tries):
        out = subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}",
                              *args], capture_output=True, text=True,
                             timeout=120)
        if out.returncode == 0:
            return out.stdout
    raise RuntimeError(out.stderr[-400:])


def check_page(browser: str, page: Path, shots: Path) -> list[str]:
    """Problems found on one page (empty: the page is fine)."""
    url = page.resolve().as_uri()
    problems = []
    with tempfile.TemporaryDirectory() as profile:
        dom = _run(browser, ["--dump-dom", url], profile)
        shot = shots / (page.stem + ".png")
        # a window as tall as a long chapter: the whole page, figures included
        _run(browser, [f"--screenshot={shot}", "--window-size=1280,12000",
                       url], profile)
    if "</html>" not in dom:
        problems.append("Chromium did not render the page")
    if "Traceback (most recent call last)" in dom:
        problems.append("a Python traceback")
    for m in sorted(set(BAD_CLASSES.findall(dom))):
        problems.append(f"an element of class {m!r}")
    problems += raw_math(dom)
    figures = 0
    for src in IMG.findall(dom):
        parsed = urlparse(src)
        if parsed.scheme in ("http", "https", "data"):
            continue
        path = (page.parent / unquote(parsed.path)).resolve() \
            if parsed.scheme != "file" else Path(unquote(parsed.path))
        try:
            with Image.open(path) as im:
                ok = min(im.size) > 8
                im.verify()
        except (OSError, SyntaxError):
            ok = False
        if not ok:
            problems.append(f"missing or broken image {src}")
        elif "_images/" in src:
            figures += 1
    if CHAPTER.match(page.name) and figures == 0:
        problems.append("a chapter page without a figure")
    if not shot.exists():
        problems.append("no screenshot")
    else:
        with Image.open(shot) as im:
            pixels = np.asarray(im.convert("L"))
        if pixels.std() < 5:
            problems.append("a blank screenshot")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("html", type=Path, help="the built site (…/html)")
    ap.add_argument("--screenshots", type=Path, default=None,
                    help="where to save them (default: HTML/../screenshots)")
    a = ap.parse_args(argv)
    pages = sorted((a.html / "book").glob("*.html")) + [a.html / "index.html"]
    pages = [p for p in pages if p.exists()]
    if not pages:
        sys.exit(f"no pages under {a.html}: build the book first")
    shots = a.screenshots or a.html.parent / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    browser = chromium()
    with ThreadPoolExecutor(2) as pool:
        found = list(pool.map(lambda p: check_page(browser, p, shots), pages))
    bad = 0
    for page, problems in zip(pages, found):
        print(f"{'FAIL' if problems else 'ok  '} {page.relative_to(a.html)}"
              + "".join(f"\n     - {p}" for p in problems))
        bad += bool(problems)
    print(f"{len(pages) - bad}/{len(pages)} pages fine; screenshots in {shots}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
