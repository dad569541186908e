"""Per-chapter execution times of a book build, from its log.

``make book`` pipes ``jupyter-book build`` through ``tee`` into
``_build/book.log``; myst-nb writes there, for every chapter, the line
``<path>: Executing notebook …`` and then ``Executed notebook in N
seconds``.  This prints them as one table with the total, so that a
reader knows what a build costs on their machine.

    python tools/book_times.py _build/book.log [--save data/results/book_times.json]

``--save`` also writes the times as JSON, with the profile and the machine
they came from; the course guide's table of session times reads that file
(committed from one quiet `make book` run).
"""
import argparse
import json
import os
import re
import sys
from datetime import datetime, timezone
from pathlib import Path

from lic_lib.complexity import device_label

START = re.compile(r"(\S+\.ipynb): Executing notebook")
DONE = re.compile(r"Executed notebook in ([\d.]+) seconds")


def chapter_times(log: str) -> list[tuple[str, float]]:
    """(chapter file, seconds) in build order."""
    out, current = [], None
    for line in log.splitlines():
        if m := START.search(line):
            current = Path(m[1]).name
        elif (m := DONE.search(line)) and current:
            out.append((current, float(m[1])))
            current = None
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("log", type=Path)
    p.add_argument("--save", type=Path, help="also write the times as JSON")
    a = p.parse_args()
    times = chapter_times(a.log.read_text(errors="replace"))
    if not times:
        print("no executed chapters in the log")
        return 0
    if a.save:
        a.save.write_text(json.dumps({
            "profile": os.environ.get("LIC_PROFILE", "book"),
            "machine": device_label("cpu"),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "chapters": dict(times)}, indent=1) + "\n")
    print("\nchapter execution times (this machine):")
    for name, s in times:
        print(f"  {name:<34} {s:7.1f} s")
    total = sum(s for _, s in times)
    print(f"  {'all chapters':<34} {total:7.1f} s ({total / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
