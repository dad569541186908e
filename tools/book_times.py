"""Per-chapter execution times of a book build, from its log.

``make book`` pipes ``jupyter-book build`` through ``tee`` into
``_build/book.log``; myst-nb writes there, for every chapter, the line
``<path>: Executing notebook …`` and then ``Executed notebook in N
seconds``.  This prints them as one table with the total, so that a
reader knows what a build costs on their machine.

    python tools/book_times.py _build/book.log
"""
import re
import sys
from pathlib import Path

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
    times = chapter_times(Path(sys.argv[1]).read_text(errors="replace"))
    if not times:
        print("no executed chapters in the log")
        return 0
    print("\nchapter execution times (this machine):")
    for name, s in times:
        print(f"  {name:<34} {s:7.1f} s")
    total = sum(s for _, s in times)
    print(f"  {'all chapters':<34} {total:7.1f} s ({total / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
