"""ruff's lint rules and its formatter (pyproject.toml's [tool.ruff]) hold over the whole repository, so
`make test` fails on a finding or on code not formatted as `ruff format` writes it; and each check does
find what it looks for."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUFF = [sys.executable, "-m", "ruff"]


def ruff(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([*RUFF, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_the_code_passes_ruff_check():
    done = ruff("check", ".")
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_check_finds_an_unused_import_and_unsorted_imports(tmp_path):
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "bad.py").write_text("import sys\nimport os\n\nprint(os.sep)\n", encoding="utf-8")
    done = ruff("check", "--no-cache", "bad.py", cwd=tmp_path)
    assert done.returncode == 1 and "F401" in done.stdout and "I001" in done.stdout, done.stdout


def test_the_code_is_formatted_as_ruff_format_writes_it():
    done = ruff("format", "--check", ".")
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_format_check_finds_badly_formatted_code(tmp_path):
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "ugly.py").write_text("x = {  'a':1,'b' :2 }\n", encoding="utf-8")
    done = ruff("format", "--check", "--no-cache", "ugly.py", cwd=tmp_path)
    assert done.returncode == 1 and "ugly.py" in done.stdout + done.stderr, done.stdout + done.stderr
