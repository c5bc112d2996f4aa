#!/usr/bin/env python
"""Write the students' copies of the course: every solution replaced by a stub, every output cleared.

    python tools/make_student.py                 # notebooks/*.ipynb -> out/student/
    python tools/make_student.py --out DIR

The notebooks in ``notebooks/`` are the instructor's copies, marked up as nbgrader marks them:
a solution cell (metadata ``nbgrader.solution: true``) holds its answer between
``### BEGIN SOLUTION`` and ``### END SOLUTION``, and an autograded test cell (``nbgrader.grade:
true``, ``locked``, with ``points``) checks it. As ``nbgrader generate_assignment`` does, each
solution region becomes ``# YOUR CODE HERE`` and ``raise NotImplementedError()`` at the region's
indentation, and ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS`` regions are removed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = re.compile(r"^([ \t]*)### BEGIN SOLUTION[^\n]*\n.*?^[ \t]*### END SOLUTION[^\n]*(\n|$)", re.S | re.M)
HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS[^\n]*\n.*?^[ \t]*### END HIDDEN TESTS[^\n]*(\n|$)", re.S | re.M)


def course_notebooks(folder: Path = ROOT / "notebooks") -> list:
    """The course's notebooks: the numbered series, then the appendices (A1_, A2_...)."""
    return sorted(folder.glob("[0-9][0-9]_*.ipynb")) + sorted(folder.glob("A[0-9]_*.ipynb"))


def student_source(source: str) -> str:
    """A cell's source with each solution region replaced by a stub and hidden tests removed."""
    source = SOLUTION.sub(lambda m: f"{m[1]}# YOUR CODE HERE\n{m[1]}raise NotImplementedError()\n", source)
    return HIDDEN.sub("", source)


def student_copy(nb: dict) -> dict:
    """The student's copy of a notebook (a dict in the .ipynb format): stubs in place, no outputs."""
    nb = json.loads(json.dumps(nb))
    for cell in nb["cells"]:
        grading = cell.get("metadata", {}).get("nbgrader", {})
        text = "".join(cell["source"])
        if cell["cell_type"] == "code":
            if grading.get("solution") or grading.get("grade"):
                text = student_source(text)
            cell["outputs"], cell["execution_count"] = [], None
        lines = text.split("\n")
        cell["source"] = [line + "\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])
    return nb


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "out" / "student"), help="output folder (default: out/student)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for path in course_notebooks():
        nb = student_copy(json.loads(path.read_text(encoding="utf-8")))
        stubs = sum("raise NotImplementedError()" in "".join(c["source"]) for c in nb["cells"])
        (out / path.name).write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"{out / path.name}: {stubs} exercise(s) to write")
    return 0


if __name__ == "__main__":
    sys.exit(main())
