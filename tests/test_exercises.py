"""The course's exercises: nbgrader's markup, students' copies with stubs, and checks that can fail.

Every numbered notebook has at least two exercises: a solution cell and the autograded test cell
after it. In the students' copy each solution is a stub that raises, and each test cell must then
fail with its own message ("Exercise N.M: ..."), not with an error somewhere else.
"""

import importlib.util
import json
from pathlib import Path

import pytest
from test_notebooks import SMALL

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("make_student", ROOT / "tools" / "make_student.py")
make_student = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_student)
course_notebooks, student_copy = make_student.course_notebooks, make_student.student_copy

NOTEBOOKS = course_notebooks()
NUMBERED = [p for p in NOTEBOOKS if p.name[0].isdigit()]


def graded_cells(nb):
    return [(i, c) for i, c in enumerate(nb["cells"]) if c.get("metadata", {}).get("nbgrader", {}).get("grade")]


def solution_cells(nb):
    return [(i, c) for i, c in enumerate(nb["cells"]) if c.get("metadata", {}).get("nbgrader", {}).get("solution")]


def tag_of(cell) -> str:
    """The exercise a test cell checks: the first argument of its ``check_exercise("N.M", ...)``."""
    source = "".join(cell["source"])
    start = source.index("check_exercise(") + len("check_exercise(")
    return source[start:].split(",", 1)[0].strip().strip("\"'")


def load(path):
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", NUMBERED, ids=[p.stem for p in NUMBERED])
def test_every_numbered_notebook_has_at_least_two_exercises_each_with_its_check(path):
    nb = load(path)
    solutions, graded = solution_cells(nb), graded_cells(nb)
    assert len(solutions) >= 2 and len(graded) >= len(solutions), (len(solutions), len(graded))
    for i, cell in solutions:   # the check follows its solution
        assert any(j > i for j, _ in graded), f"solution cell {i} has no test cell after it"
    tags = [tag_of(c) for _, c in graded]
    assert len(set(tags)) == len(tags) and all(t.startswith(path.name[:2].lstrip("0") + ".") for t in tags), tags


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_the_markup_is_nbgraders(path):
    ids = []
    for cell in load(path)["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader")
        if meta is None:
            continue
        assert meta["schema_version"] == 3 and cell["cell_type"] == "code"
        ids.append(meta["grade_id"])
        source = "".join(cell["source"])
        if meta["solution"]:
            assert not meta["grade"] and not meta["locked"]
            assert source.count("### BEGIN SOLUTION") == source.count("### END SOLUTION") >= 1
        if meta["grade"]:
            assert meta["locked"] and meta["points"] > 0 and not meta["solution"]
            assert "check_exercise(" in source
    assert len(ids) == len(set(ids)), "grade_id values must be unique"


def test_a_students_copy_has_stubs_for_solutions_no_outputs_and_no_hidden_tests():
    nb = {"cells": [
        {"cell_type": "code", "metadata": {"nbgrader": {"solution": True, "grade": False}}, "execution_count": 3,
         "outputs": [{"output_type": "stream", "name": "stdout", "text": ["4\n"]}],
         "source": ["def twice(x):\n", "    ### BEGIN SOLUTION\n", "    return 2 * x\n", "    ### END SOLUTION\n"]},
        {"cell_type": "code", "metadata": {"nbgrader": {"grade": True}}, "execution_count": 4, "outputs": [],
         "source": ["check(twice)\n", "### BEGIN HIDDEN TESTS\n", "check_more(twice)\n", "### END HIDDEN TESTS\n"]},
        {"cell_type": "markdown", "metadata": {}, "source": ["### BEGIN SOLUTION stays in prose"]}]}
    student = student_copy(nb)
    assert student["cells"][0]["source"] == ["def twice(x):\n", "    # YOUR CODE HERE\n",
                                             "    raise NotImplementedError()\n"]
    assert student["cells"][0]["outputs"] == [] and student["cells"][0]["execution_count"] is None
    assert student["cells"][1]["source"] == ["check(twice)\n"]
    assert student["cells"][2] == nb["cells"][2]
    assert "return 2 * x" in "".join(nb["cells"][0]["source"])   # the instructor's copy is untouched


def _run(nb, path, tmp_path):
    import nbformat
    import papermill
    from nbclient import NotebookClient

    params = {**SMALL[path.stem]}
    node = papermill.parameterize.parameterize_notebook(nbformat.reads(json.dumps(nb), as_version=4), params)
    client = NotebookClient(node, timeout=900, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(path.parent)}})
    return client.execute()


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_in_a_students_copy_each_check_fails_on_its_stub_with_its_own_message(path, tmp_path):
    nb = _run(student_copy(load(path)), path, tmp_path)
    errors = {i: [o for o in c.get("outputs", []) if o.output_type == "error"] for i, c in enumerate(nb.cells)}
    graded = dict(graded_cells(nb))
    for i, cell in graded.items():
        tag = tag_of(cell)
        assert [(e.ename, e.evalue.split(":")[0]) for e in errors[i]] == [("AssertionError", f"Exercise {tag}")], \
            (i, [(e.ename, e.evalue) for e in errors[i]])
        assert "not written yet" in errors[i][0].evalue
    elsewhere = {i: [(e.ename, e.evalue) for e in errs] for i, errs in errors.items() if errs and i not in graded}
    assert not elsewhere, f"cells that fail besides the checks: {elsewhere}"
