"""tools/book_times.py reads the chapter times out of a book build log."""

import importlib.util
import json

from lic_lib.config import ROOT

spec = importlib.util.spec_from_file_location(
    "book_times", ROOT / "tools" / "book_times.py")
book_times = importlib.util.module_from_spec(spec)
spec.loader.exec_module(book_times)

LOG = """\
[Preparing] reading sources...
/w/book/01_introduction.ipynb: Executing notebook using local CWD [mystnb]
/w/book/01_introduction.ipynb: Executed notebook in 12.50 seconds [mystnb]
/w/book/02_images.ipynb: Executing notebook using local CWD [mystnb]
WARNING: something unrelated
/w/book/02_images.ipynb: Executed notebook in 3.25 seconds [mystnb]
/w/book/03_failing.ipynb: Executing notebook using local CWD [mystnb]
/w/book/03_failing.ipynb: Executing notebook failed: CellExecutionError
"""


def test_chapter_times_in_build_order_and_failures_left_out(
        tmp_path, capsys, monkeypatch):
    assert book_times.chapter_times(LOG) == [
        ("01_introduction.ipynb", 12.5), ("02_images.ipynb", 3.25)]
    (tmp_path / "b.log").write_text(LOG)
    monkeypatch.setattr("sys.argv", ["book_times.py", str(tmp_path / "b.log")])
    assert book_times.main() == 0
    assert "15.8 s (0.3 min)" in capsys.readouterr().out


def test_save_writes_the_times_with_their_machine(tmp_path, monkeypatch):
    (tmp_path / "b.log").write_text(LOG)
    out = tmp_path / "times.json"
    monkeypatch.setenv("LIC_PROFILE", "book")
    monkeypatch.setattr("sys.argv", ["book_times.py", str(tmp_path / "b.log"),
                                     "--save", str(out)])
    assert book_times.main() == 0
    saved = json.loads(out.read_text())
    assert saved["chapters"] == {"01_introduction.ipynb": 12.5,
                                 "02_images.ipynb": 3.25}
    assert saved["profile"] == "book" and saved["machine"].endswith("threads")
