#!/usr/bin/env python
"""Run the numbered notebooks headless with papermill, in order.

    python tools/run_notebooks.py                      # executed copies in out/notebooks/
    python tools/run_notebooks.py --store              # refresh the outputs stored in notebooks/
    python tools/run_notebooks.py --only 03 -p iterations 20 -p device cpu

Each notebook runs with its working folder set to notebooks/, as nbval runs it, so
relative paths mean the same in both. Parameters given with -p are typed the way
papermill types them on its own command line (True/False/None/int/float/str) and
go to every selected notebook that declares them in its ``parameters`` cell.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


def _typed(text: str):
    # the same rules as papermill's own -p
    if text in ("True", "False"):
        return text == "True"
    if text == "None":
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def declared_parameters(path: Path) -> set:
    """Names assigned in a notebook's cell tagged ``parameters``."""
    import ast

    nb = json.loads(path.read_text())
    names = set()
    for cell in nb["cells"]:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            tree = ast.parse("".join(cell["source"]))
            for node in ast.walk(tree):
                if isinstance(node, (ast.Assign, ast.AnnAssign)):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


def _record_paths(target: Path, source: Path) -> None:
    """Handed a notebook object, papermill records the whole object as the input path;
    stored again and again, the copies would nest. Record the file names instead."""
    import nbformat

    if not target.is_file():
        return
    nb = nbformat.read(target, as_version=4)
    meta = nb.metadata.get("papermill")
    if meta is not None:
        meta["input_path"], meta["output_path"] = source.name, target.name
        nbformat.write(nb, target)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "out" / "notebooks"), help="folder for executed copies")
    ap.add_argument("--store", action="store_true", help="write outputs back into notebooks/ (the stored outputs)")
    ap.add_argument("--only", action="append", default=[], help="notebook number prefix, e.g. 03 (repeatable)")
    ap.add_argument("-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"), help="a parameter")
    ap.add_argument("--timeout", type=int, default=3600, help="seconds per cell (default: 3600)")
    args = ap.parse_args(argv)

    import nbformat
    import papermill as pm

    from make_student import course_notebooks  # the series, then the appendices

    paths = course_notebooks(NOTEBOOKS)
    if args.only:
        paths = [p for p in paths if any(p.name.startswith(o) for o in args.only)]
    if not paths:
        print("no notebooks selected", file=sys.stderr)
        return 2
    out_dir = NOTEBOOKS if args.store else Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    params = {name: _typed(value) for name, value in args.p}
    failed = []
    for path in paths:
        mine = {k: v for k, v in params.items() if k in declared_parameters(path)}
        target = out_dir / path.name
        print(f"== {path.name} {mine or ''} -> {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}",
              flush=True)
        t0 = time.perf_counter()
        # a parameters cell injected by an earlier run would otherwise override the defaults
        nb = nbformat.read(path, as_version=4)
        nb.cells = [c for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]
        try:
            pm.execute_notebook(nb, str(target), parameters=mine, cwd=str(NOTEBOOKS),
                                progress_bar=False, execution_timeout=args.timeout, kernel_name="python3")
        except pm.PapermillExecutionError as e:
            print(f"   FAILED in cell {e.exec_count}: {e.ename}: {e.evalue}", flush=True)
            failed.append(path.name)
            continue
        finally:
            _record_paths(target, path)
        print(f"   ok in {time.perf_counter() - t0:.0f} s", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
