"""scripts/find-python.sh: how the Makefile finds a Python 3.12+ interpreter."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "find-python.sh"


def fake_python(path: Path, *, new_enough: bool) -> Path:
    """An executable that answers the script's version probe like an old or new Python."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\nexit {0 if new_enough else 1}\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    """A PATH entry holding only the tools the script needs besides interpreters."""
    tools = tmp_path / "tools"
    tools.mkdir()
    for tool in ("ls", "sort"):
        (tools / tool).symlink_to(shutil.which(tool))
    fakes = tmp_path / "bin"
    fakes.mkdir()
    return fakes


def run(bin_dir: Path) -> subprocess.CompletedProcess:
    env = {"PATH": f"{bin_dir}:{bin_dir.parent / 'tools'}", "HOME": str(bin_dir.parent)}
    return subprocess.run(
        ["/bin/sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=30
    )


def test_a_new_enough_python_on_path_is_chosen(bin_dir):
    (bin_dir / "python3.12").symlink_to(sys.executable)
    result = run(bin_dir)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(bin_dir / "python3.12")


def test_an_old_python3_on_path_is_passed_over_for_pyenv(bin_dir, tmp_path):
    fake_python(bin_dir / "python3", new_enough=False)
    root = tmp_path / "pyenv"
    fake_python(root / "versions" / "3.11.7" / "bin" / "python", new_enough=False)
    chosen = fake_python(root / "versions" / "3.12.1" / "bin" / "python", new_enough=True)
    fake_python(root / "versions" / "3.13.0" / "bin" / "python", new_enough=True)
    pyenv = bin_dir / "pyenv"
    pyenv.write_text(f'#!/bin/sh\n[ "$1" = root ] && echo "{root}"\n')
    pyenv.chmod(0o755)
    result = run(bin_dir)
    assert result.returncode == 0, result.stderr
    # pyenv holds 3.12 without selecting it: the script finds it anyway.
    assert result.stdout.strip() == str(chosen)


def test_no_suitable_python_stops_with_a_clear_message(bin_dir):
    fake_python(bin_dir / "python3", new_enough=False)
    result = run(bin_dir)
    assert result.returncode == 1
    assert result.stdout == ""
    assert "Python 3.12 or newer is required" in result.stderr
    assert "pyenv install 3.12" in result.stderr


def test_the_makefile_uses_the_script():
    assert "scripts/find-python.sh" in (ROOT / "Makefile").read_text()
    assert os.access(SCRIPT, os.R_OK)
