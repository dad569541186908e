"""Widgets run headless (nbval, the book build) without stalling."""

import time

import nbformat
from nbclient import NotebookClient

CELLS = [
    "from lic_lib import data\n"
    "kodak = [(n, data.downscale(a, 128)) for n, a in data.eval_images('kodak', limit=2)]",
    "from lic_lib.widgets import codec_comparison\n"
    "box = codec_comparison(kodak, ['jpeg', 'hevc'])\nbox",
    "out = box.children[1]\n"
    "assert out.outputs and 'image/png' in out.outputs[0]['data']",
]


def test_codec_comparison_executes_headless_with_its_first_figure():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c)
                                         for c in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python",
                                 "display_name": "Python 3"}
    client = NotebookClient(nb, timeout=60, kernel_name="python3")
    t0 = time.perf_counter()
    client.execute()                # raises on a cell error or a timeout
    # an Output widget that captured the first figure while the cell ran
    # could stall nbclient here until the timeout (60 s)
    assert time.perf_counter() - t0 < 45
    widget = nb.cells[1].outputs[0]["data"]
    assert "application/vnd.jupyter.widget-view+json" in widget
