"""The installable package (pyproject.toml, `pipx install .`): the wheel carries the whole app, and its
`ssl-explorer` command starts the same app in a clean environment, outside the repository.

The wheel is built from the tracked files (`pip wheel --no-deps`, no build isolation: nothing is
downloaded) and installed without its dependencies into a fresh venv that reads this environment's
packages (torch, Streamlit, the model packages) through a .pth file, so the test costs seconds, not
the minutes of a real `pipx install` (the install alone about 3.5 min here, most of it torch and the other
dependencies; `test_pipx_install`, about 7 min with the model packages' download and SmolLM2's
conversion into a fresh cache, runs only with SSL_EXPLORER_PIPX=1).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.browser import browser, free_port, wait_idle

ROOT = Path(__file__).resolve().parents[2]
APP_FILES = ("app.py", "serve.py", "pages", "assets", ".streamlit", "requirements-models.txt")


def tracked(*paths: str) -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z", "--", *paths], cwd=ROOT, check=True, capture_output=True)
    return [p for p in out.stdout.decode().split("\0") if p and (ROOT / p).is_file()]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The package as `pip wheel` builds it from a copy of the tracked files."""
    src, out = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("wheel")
    for name in tracked("."):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, src / name)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(out),
            str(src),
        ],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("ssl_explorer-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed, this environment's packages visible through a .pth file."""
    env = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    (site,) = env.glob("lib/python*/site-packages")
    (site / "ssl_explorer_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(env / "bin" / "python"),
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    return env


def test_the_wheel_carries_the_app_its_command_and_the_pins(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        info = wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1] + ".dist-info"
        entry_points = z.read(f"{info}/entry_points.txt").decode()
        metadata = z.read(f"{info}/METADATA").decode()
    app = {f"explorer/_app/{p}" for p in tracked(*APP_FILES)}
    assert app - names == set()  # app.py, all 12 pages, every asset (the bundled model weights too), the config
    assert {
        "explorer/_app/assets/models/ssl-explorer-smollm2-mlm/delta.safetensors",
        "explorer/_app/.streamlit/config.toml",
        "explorer/_app/pages/masked_lm.py",
    } <= names
    code = {p for p in tracked("explorer") if p.endswith(".py")}
    assert code - names == set()  # every module and subpackage of explorer/ (package discovery)
    assert {n.split("/")[0] for n in names} == {"explorer", info}  # nothing else in site-packages
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or "/static/" in n]
    assert re.search(r"^ssl-explorer = explorer\.cli:main$", entry_points, re.M)
    pins = [line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    assert re.findall(r"^Requires-Dist: (\S+)$", metadata, re.M) == [p for p in pins if p]


def test_the_installed_command_answers_outside_the_repository(venv, tmp_path):
    run = subprocess.run([str(venv / "bin" / "ssl-explorer"), "--help"], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert all(cmd in run.stdout for cmd in ("run", "prepare", "serve"))
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "from explorer import paths; print(paths.INSTALLED, paths.ROOT)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert where[0] == "True" and Path(where[1]).is_relative_to(venv)  # the installed copy, not the repository


@pytest.mark.browser
def test_ssl_explorer_run_starts_the_installed_app(venv, tmp_path):
    """`ssl-explorer run` from another folder: prepare, then the app, its plotly.js served from the cache folder
    (site-packages is never written), the home page and the 12 pages' menu in Chromium."""
    from explorer.models import smollm2_cache_path
    from explorer.ui import static_files

    cache = tmp_path / "cache"
    cache.mkdir()
    if smollm2_cache_path().is_dir():  # the SmolLM2 conversion the repository's prepare made (else made again)
        (cache / smollm2_cache_path().name).symlink_to(smollm2_cache_path())
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("SSL_EXPLORER_BF16", "PYTHONPATH")}
    log = open(tmp_path / "app.log", "w")
    proc = subprocess.Popen(
        [str(venv / "bin" / "ssl-explorer"), "run", "--port", str(port)],
        cwd=tmp_path,
        env={**env, "SSL_EXPLORER_CACHE": str(cache)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 240
        while proc.poll() is None and time.time() < deadline:
            try:
                if urllib.request.urlopen(url + "/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.5)
        assert proc.poll() is None, (tmp_path / "app.log").read_text()[-3000:]
        with urllib.request.urlopen(url + "/app/static/plotly.min.js", timeout=10) as r:
            assert r.read() == static_files.plotly_js_source().read_bytes()
        (app_dir,) = (cache / "app").iterdir()
        assert sorted(p.name for p in app_dir.iterdir()) == [".streamlit", "app.py", "pages", "static"]
        (installed,) = venv.glob("lib/python*/site-packages/explorer/_app")
        assert not (installed / "static").exists()
        with browser() as b:
            page = b.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url)
            wait_idle(page)
            assert page.get_by_text("Where do the labels come from?").count() == 1
            assert page.locator('[data-testid="stSidebarNav"] a').count() == 12
            assert page.locator('[data-testid="stException"]').count() == 0
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("SSL_EXPLORER_PIPX") != "1",
    reason="a real `pipx install .` takes minutes and downloads the model packages: SSL_EXPLORER_PIPX=1",
)
def test_pipx_install(tmp_path):
    """`pipx install .` in a clean venv (dependencies resolved by pip as a user's would be), then
    `ssl-explorer run` from another folder until the app answers; prepare installs the model packages."""
    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "tools")], check=True)
    subprocess.run([str(tmp_path / "tools" / "bin" / "pip"), "install", "-q", "pipx"], check=True)
    env = {
        **os.environ,
        "PIPX_HOME": str(tmp_path / "pipx"),
        "PIPX_BIN_DIR": str(tmp_path / "bin"),
        "PIPX_MAN_DIR": str(tmp_path / "man"),
        "SSL_EXPLORER_CACHE": str(tmp_path / "cache"),
    }
    env.pop("SSL_EXPLORER_BF16", None)
    subprocess.run([str(tmp_path / "tools" / "bin" / "pipx"), "install", str(ROOT)], env=env, check=True)
    port = free_port()
    with open(tmp_path / "app.log", "w") as log:
        proc = subprocess.Popen(
            [str(tmp_path / "bin" / "ssl-explorer"), "run", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.time() + 600
            while proc.poll() is None and time.time() < deadline:
                try:
                    if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).read() == b"ok":
                        break
                except OSError:
                    time.sleep(1)
            assert proc.poll() is None, (tmp_path / "app.log").read_text()[-3000:]
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as r:
                assert r.status == 200 and b"<title>" in r.read()
        finally:
            proc.terminate()
            proc.wait(15)
