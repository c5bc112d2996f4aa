"""Notebook 04's latent explorer in a real browser: JupyterLab + headless Chromium.

The test copies notebook 04 into a temporary folder with its parameters set to a tiny
random generator (so it runs in seconds and needs no shipped model), starts JupyterLab
there on 127.0.0.1 with a random token, opens the notebook in Debian's Chromium driven
by Playwright, runs all cells from the Run menu, then drags the α slider, steps the
frame slider with the keyboard and presses Play, checking each time that the picture
the browser shows changes and that no widget error appears. The server is stopped,
kernels included, whatever happens.

Needs: the ``playwright`` Python package and a Chromium binary (``make browser`` installs
Debian's; ``VGAN_CHROMIUM`` points at another). Without them the test is skipped, except
under ``CI`` where it fails.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "04_latent_interpolation.ipynb"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
WIDGET_ERRORS = ("Error displaying widget", "Model not found", "Failed to load model class")

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.timeout(900)]


def _find_chromium():
    for candidate in (os.environ.get("VGAN_CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium",
                      shutil.which("chromium-browser")):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def _require_browser():
    """(sync_playwright, chromium path), or skip (fail under CI) naming what is missing."""
    missing = []
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
        missing.append("the 'playwright' Python package (pip install playwright)")
    chromium = _find_chromium()
    if chromium is None:
        missing.append("a Chromium binary (make browser, or apt-get install chromium)")
    if missing:
        message = "browser test needs " + " and ".join(missing)
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail(message + " (CI is set, so this is an error, not a skip)")
        pytest.skip(message)
    return sync_playwright, chromium


# --- the notebook and the server ---------------------------------------------------------------

def _tiny_checkpoint(path: Path) -> Path:
    """A 16x16, 16-frame generator with PyTorch's default init, so pictures differ visibly."""
    import torch

    from vgan_lib.checkpoint import save_weights
    from vgan_lib.model import VideoGANConfig, build_models

    G, D = build_models(VideoGANConfig(frames=16, size=16, width=4))
    torch.manual_seed(0)
    for m in G.modules():
        if m is not G and hasattr(m, "reset_parameters"):
            m.reset_parameters()
    return save_weights(path, G, D)


def _prepare_notebook(folder: Path) -> Path:
    import nbformat
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    nb = load_notebook_node(str(NOTEBOOK))
    for cell in nb.cells:  # run from a clean slate, as a student would
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.metadata.pop("widgets", None)
    nb = parameterize_notebook(nb, {"checkpoint": str(_tiny_checkpoint(folder / "tiny.pt")),
                                    "steps": 3, "directions": 2})
    target = folder / NOTEBOOK.name
    nbformat.write(nb, target)
    return target


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(pid: int) -> list:
    """Process ids below ``pid`` (kernels run in their own session, not the server's group)."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _stop(proc: subprocess.Popen) -> None:
    """Stop the server and every process it started: TERM, then KILL what is left."""
    if proc.poll() is None:
        kids = _descendants(proc.pid) if Path("/proc").is_dir() else []
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)
        for pid in kids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


@pytest.fixture
def lab(tmp_path):
    """JupyterLab serving a prepared copy of notebook 04: yields (base_url, token, log_path)."""
    sync_playwright, chromium = _require_browser()
    work = tmp_path / "notebooks"
    work.mkdir()
    _prepare_notebook(work)
    home = tmp_path / "jupyter"
    settings = home / "lab-settings" / "@jupyterlab"
    (settings / "apputils-extension").mkdir(parents=True)
    (settings / "notebook-extension").mkdir(parents=True)
    # no news or update checks (there is no internet, and their toasts would cover the page)
    (settings / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    # render every cell, also those scrolled out of view
    (settings / "notebook-extension" / "tracker.jupyterlab-settings").write_text(
        json.dumps({"windowingMode": "none"}))
    env = dict(os.environ,
               JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(home / "lab-settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"), IPYTHONDIR=str(home / "ipython"),
               VGAN_THREADS="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    port, token = _free_port(), secrets.token_hex(16)
    log_path = tmp_path / "jupyterlab.log"
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root",
           "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}",
           "--ServerApp.terminals_enabled=False", "--LabApp.news_url=None",
           "--LabApp.expose_app_in_browser=True",  # lets the test ask whether the kernel is connected
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited with status {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not answer within 90 s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield {"base": base, "token": token, "log": log_path, "chromium": chromium,
               "sync_playwright": sync_playwright, "profile": tmp_path / "chromium-profile", "tmp": tmp_path}
    finally:
        _stop(proc)


# --- reading the page ------------------------------------------------------------------------------

def _picture(page) -> bytes:
    """The bytes of the PNG the explorer's <img> shows now (its src is a blob: URL)."""
    for _ in range(5):
        try:
            data = page.locator("img.vgan-picture").evaluate(
                """async (img) => {
                    const r = await fetch(img.src);
                    const b = new Uint8Array(await r.arrayBuffer());
                    let s = ""; for (const x of b) s += String.fromCharCode(x);
                    return btoa(s);
                }""")
            return base64.b64decode(data)
        except Exception:  # the blob was replaced (and revoked) while we read it
            time.sleep(0.2)
    raise AssertionError("could not read the explorer's picture")


def _wait_for_new_picture(page, before: bytes, what: str, timeout: float = 60) -> bytes:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = _picture(page)
        if now != before:
            return now
        page.wait_for_timeout(250)
    raise AssertionError(f"the picture did not change after {what}")


def _readout(page, cls: str) -> str:
    return page.locator(f".{cls} .widget-readout").inner_text().strip()


def _assert_no_errors(page) -> None:
    text = page.locator(".jp-NotebookPanel").text_content()
    for message in WIDGET_ERRORS:
        assert message not in text, f"the page shows {message!r}"
    assert "Traceback" not in text, "a cell raised an error:\n" + text[text.find("Traceback") - 300:][:2000]
    assert page.locator(".vgan-error").text_content().strip() == "", "the explorer shows an error"


def _diagnosis(page, lab) -> str:
    """A screenshot path, the end of the notebook's text and of the server log, for a failure message."""
    shot = lab["tmp"] / "failure.png"
    try:
        page.screenshot(path=str(shot), full_page=True)
        text = page.locator(".jp-NotebookPanel").text_content()[-2500:]
    except Exception as e:  # the page itself may be gone
        text = f"(page unreadable: {e})"
    log = lab["log"].read_text(errors="replace")[-2500:]
    return f"\nscreenshot: {shot}\n--- notebook (end) ---\n{text}\n--- JupyterLab log (end) ---\n{log}"


KERNEL_READY_JS = """() => {
    const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const ctx = panel && panel.sessionContext;
    const kernel = ctx && ctx.session && ctx.session.kernel;
    return !!(ctx && ctx.isReady && kernel && kernel.connectionStatus === "connected" && kernel.status === "idle");
}"""


def _accept_kernel_dialog(page) -> bool:
    """Accept JupyterLab's "Select Kernel" dialog (shown now and then, under load, although the
    notebook names its kernel). True when there was one."""
    dialog = page.locator(".jp-Dialog")
    if dialog.count() and "Select Kernel" in (dialog.first.text_content() or ""):
        dialog.locator("button.jp-mod-accept").first.click()
        return True
    return False


def _wait_for_idle_kernel(page, timeout: float = 180) -> None:
    """Wait until the notebook's kernel is connected and idle and no dialog has shown for 3 s."""
    deadline = time.monotonic() + timeout
    quiet_since = None
    while time.monotonic() < deadline:
        if _accept_kernel_dialog(page) or not page.evaluate(KERNEL_READY_JS):
            quiet_since = None
        else:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since > 3:
                return
        page.wait_for_timeout(250)
    raise AssertionError(f"the kernel was not connected and idle after {timeout} s")


def _run_all_cells(page, attempts: int = 3) -> None:
    """Run > Run All Cells, as a student would; again if no cell started (a kernel that was
    swapped right after the click drops the queued cells)."""
    prompts = page.locator(".jp-CodeCell .jp-InputArea-prompt")
    for _ in range(attempts):
        _wait_for_idle_kernel(page)
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-item:visible", has_text="Run All Cells").first.click()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if any(t.strip() not in ("", "[ ]:") for t in prompts.all_text_contents()):
                return
            _accept_kernel_dialog(page)
            page.wait_for_timeout(250)
    raise AssertionError(f"no cell started after {attempts} tries of Run > Run All Cells")


def _wait_until_all_cells_ran(page, timeout: float = 300) -> None:
    prompts = page.locator(".jp-CodeCell .jp-InputArea-prompt")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        texts = prompts.all_text_contents()
        if texts and all(t.strip().startswith("[") and t.strip()[1:-2].strip().isdigit() for t in texts):
            return
        page.wait_for_timeout(500)
    raise AssertionError(f"cells still running or not run after {timeout} s: {prompts.all_text_contents()}")


# --- the test ----------------------------------------------------------------------------------------

def test_latent_explorer_in_jupyterlab_responds_to_its_sliders(lab):
    with lab["sync_playwright"]() as pw:
        context = pw.chromium.launch_persistent_context(
            str(lab["profile"]), executable_path=lab["chromium"], headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000})
        try:
            page = context.new_page()
            console_errors = []
            page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
            page.goto(f"{lab['base']}/lab/tree/{NOTEBOOK.name}?token={lab['token']}")
            page.locator(".jp-NotebookPanel .jp-Notebook").wait_for(timeout=120_000)
            _run_all_cells(page)
            page.locator("img.vgan-picture").wait_for(state="attached", timeout=300_000)
            _wait_until_all_cells_ran(page)
            page.locator("img.vgan-picture").scroll_into_view_if_needed()
            page.locator("img.vgan-picture").wait_for(state="visible", timeout=30_000)
            _assert_no_errors(page)

            picture = _picture(page)
            assert picture[:8] == b"\x89PNG\r\n\x1a\n"
            page.wait_for_timeout(500)
            assert _picture(page) == picture, "the picture changes although nothing moved"

            # drag the alpha handle about two thirds of the way along its track
            page.locator(".vgan-alpha").scroll_into_view_if_needed()
            handle = page.locator(".vgan-alpha .noUi-handle")
            track = page.locator(".vgan-alpha .noUi-target").bounding_box()
            start = handle.bounding_box()
            page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
            page.mouse.down()
            page.mouse.move(track["x"] + 0.66 * track["width"], start["y"] + start["height"] / 2, steps=8)
            page.mouse.up()
            assert _readout(page, "vgan-alpha") != "0.00"
            picture = _wait_for_new_picture(page, picture, "dragging the α slider")
            _assert_no_errors(page)

            # step the frame slider with the keyboard
            page.locator(".vgan-frame .noUi-handle").focus()
            for _ in range(5):
                page.keyboard.press("ArrowRight")
            assert _readout(page, "vgan-frame") == "5"
            picture = _wait_for_new_picture(page, picture, "moving the frame slider")
            _assert_no_errors(page)

            # Play advances the frame slider in the browser (jslink) and so the picture
            frame_before = _readout(page, "vgan-frame")
            page.locator(".vgan-play button").first.click()
            picture = _wait_for_new_picture(page, picture, "pressing Play")
            assert _readout(page, "vgan-frame") != frame_before
            page.locator(".vgan-play button").first.click()  # the same button pauses
            page.wait_for_timeout(1000)
            paused = _picture(page)
            page.wait_for_timeout(1000)
            assert _picture(page) == paused, "the picture still changes after pausing"
            _assert_no_errors(page)
            widget_errors = [m for m in console_errors if any(e in m for e in WIDGET_ERRORS)]
            assert not widget_errors, widget_errors
        except Exception as e:
            raise AssertionError(f"{type(e).__name__}: {e}{_diagnosis(page, lab)}") from e
        finally:
            context.close()
