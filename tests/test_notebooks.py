"""Every numbered notebook runs headless with papermill on small parameters, and a
wrong-typed parameter stops it with one clear line. (nbval checks the stored outputs
of the default runs separately: `pytest notebooks/`.)"""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NUMBERED = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
NOTEBOOKS = NUMBERED + sorted((ROOT / "notebooks").glob("A[0-9]_*.ipynb"))   # the series, then appendices

# small enough for a test, large enough to reach every cell
SMALL = {
    "01_gan_objective": dict(d_iterations=40, gan_iterations=40, batch_size=64),
    "02_two_stream_generator": dict(n_samples=2, fit_steps=10),
    "03_training": dict(n_clips=64, iterations=4, batch_size=4, resume_iterations=2, sample_every=2,
                        run_name="test_03"),
    "04_latent_interpolation": dict(steps=3, directions=1, quality_clips=8),
    "05_ucf_finetuning": dict(epochs=1),
    "06_your_own_videos": dict(iterations=2, batch_size=2, out_name="06_prepared_test", run_name="test_06"),
    "A1_shipped_model_history": dict(quality_clips=8),
}


def _run(path, out, **params):
    import papermill as pm
    return pm.execute_notebook(str(path), str(out), parameters=params, cwd=str(path.parent),
                               progress_bar=False, kernel_name="python3")


def test_the_series_is_numbered_without_gaps():
    numbers = [int(p.name[:2]) for p in NUMBERED]
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= 3


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_headless_with_small_parameters(path, tmp_path):
    assert path.stem in SMALL, f"add small parameters for {path.name} to SMALL"
    nb = _run(path, tmp_path / path.name, **SMALL[path.stem])
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors


@pytest.mark.slow
def test_a_parameter_of_the_wrong_type_fails_with_one_clear_line(tmp_path):
    import papermill as pm
    path = ROOT / "notebooks" / "03_training.ipynb"
    with pytest.raises(pm.PapermillExecutionError) as err:
        _run(path, tmp_path / "bad.ipynb", iterations="ten")
    assert err.value.ename == "ValueError"
    assert err.value.evalue == "parameter 'iterations' must be an integer, got str 'ten'"
