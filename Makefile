# The kit's two entry points (both set everything up on a fresh machine):
#   make notebooks   run the notebook series headless on the default data -> out/notebooks/
#   make test        run every test: unit, notebooks via papermill, nbval, browser
PYTHON ?= python3
VENV ?= .venv
# torch 2.13.0 is the pinned CPU build for this kit's own runs; any torch >= 2.2 works
TORCH_SPEC ?= torch==2.13.0
# notebook 06's stored outputs were made with this OpenCV: SIFT's key points differ between releases
OPENCV_SPEC ?= opencv-python-headless==5.0.0.93
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup browser notebooks store-outputs student test test-fast benchmark clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)" "$(OPENCV_SPEC)"
	$(BIN)/python -m pip install -q -e ".[notebooks,test]"
	touch $@

# Debian's Chromium and ChromeDriver, for the JupyterLab widget test
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }
	@chromium --version

notebooks: setup
	$(BIN)/python tools/run_notebooks.py --out out/notebooks

store-outputs: setup
	$(BIN)/python tools/run_notebooks.py --store

# the students' copies: each solution replaced by a stub that raises, outputs cleared
student: setup
	$(BIN)/python tools/make_student.py --out out/student

test: setup browser
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

benchmark: setup
	$(BIN)/python benchmarks/train_step.py

clean:
	rm -rf out runs .pytest_cache
