"""The browser check itself fails on what a reader would see go wrong."""

import shutil
import sys

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
import check_rendered_book as check  # noqa: E402

pytestmark = pytest.mark.skipif(
    not any(shutil.which(n) for n in ("chromium", "chromium-browser")),
    reason="headless Chromium absent: make system-deps installs it")


def page(body):
    return f"<html><body><h1>Chapter</h1><p>{'text ' * 200}</p>{body}</body></html>"


def test_good_and_broken_pages(tmp_path):
    (tmp_path / "_images").mkdir()
    (tmp_path / "book").mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)).save(
        tmp_path / "_images" / "fig.png")
    fig = '<img src="../_images/fig.png">'
    (tmp_path / "book" / "01_good.html").write_text(page(fig))
    (tmp_path / "book" / "02_trace.html").write_text(page(
        fig + "<pre>Traceback (most recent call last):</pre>"))
    (tmp_path / "book" / "03_stderr.html").write_text(page(
        fig + '<div class="output stderr">warning</div>'))
    (tmp_path / "book" / "04_missing.html").write_text(page(
        '<img src="../_images/gone.png">'))
    (tmp_path / "index.html").write_text(page(""))
    shots = tmp_path / "shots"
    shots.mkdir()
    browser = check.chromium()
    found = {p.stem: check.check_page(browser, p, shots)
             for p in sorted((tmp_path / "book").glob("*.html"))}
    assert found["01_good"] == []
    assert found["02_trace"] == ["a Python traceback"]
    assert found["03_stderr"] == ["an element of class 'stderr'"]
    assert "missing or broken image ../_images/gone.png" in found["04_missing"]
    assert "a chapter page without a figure" in found["04_missing"]
    assert (shots / "01_good.png").exists()
