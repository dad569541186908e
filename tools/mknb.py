"""Write a notebook (no outputs) from text whose cells start at "##MD" or
"##CODE" lines: python tools/mknb.py SRC.txt OUT.ipynb CELL_ID_PREFIX."""
import json, sys
src, dst, prefix = sys.argv[1], sys.argv[2], sys.argv[3]
cells, kind, buf = [], None, []
def flush():
    if kind is None: return
    text = "\n".join(buf).strip("\n")
    lines = text.split("\n")
    source = [l + "\n" for l in lines[:-1]] + [lines[-1]]
    c = {"cell_type": "markdown" if kind == "MD" else "code",
         "id": f"{prefix}-{len(cells):02d}", "metadata": {}, "source": source}
    if kind == "CODE":
        c.update(execution_count=None, outputs=[])
    cells.append(c)
for line in open(src).read().split("\n"):
    if line.strip() in ("##MD", "##CODE"):
        flush(); kind, buf = line.strip()[2:], []
    else:
        buf.append(line)
flush()
nb = {"cells": cells, "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}, "language_info": {"name": "python"}}, "nbformat": 4, "nbformat_minor": 5}
json.dump(nb, open(dst, "w"), indent=1, ensure_ascii=False); open(dst, "a").write("\n")
