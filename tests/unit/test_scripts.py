"""scripts/bootstrap's install stamps, with a fake virtualenv: nothing is installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def fake_checkout(tmp_path: Path) -> Path:
    """scripts/bootstrap and the requirement files, with a .venv whose python logs its calls."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "bootstrap", tmp_path / "scripts")
    for requirements in REPO.glob("requirements*.txt"):
        shutil.copy(requirements, tmp_path)
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").write_text(f'#!/bin/sh\necho "$*" >> {tmp_path}/pip.log\n')
    # The Debian packages of --dev read as installed: this test must never run apt-get.
    fake_bin = tmp_path / "fake-bin"
    fake_bin.mkdir()
    (fake_bin / "dpkg-query").write_text("#!/bin/sh\necho 'install ok installed'\n")
    for script in (bin_dir / "python", fake_bin / "dpkg-query"):
        script.chmod(0o755)
    return tmp_path


def bootstrap(checkout: Path, *args: str) -> None:
    env = {**os.environ, "PATH": f"{checkout / 'fake-bin'}:{os.environ['PATH']}", "PYTHON": sys.executable}
    subprocess.run([checkout / "scripts" / "bootstrap", *args], env=env, check=True, timeout=30)


def pip_installs(checkout: Path) -> list[str]:
    log = checkout / "pip.log"
    return [line.split()[-1] for line in log.read_text().splitlines()] if log.exists() else []


def test_serve_then_test_then_serve_installs_each_set_once(tmp_path):
    checkout = fake_checkout(tmp_path)
    for args in ((), ("--dev",), (), ("--dev",)):  # scripts/serve, scripts/test, ...
        bootstrap(checkout, *args)
    assert pip_installs(checkout) == ["requirements.txt", "requirements-dev.txt"]


def test_a_changed_requirement_file_installs_again_and_drops_old_stamps(tmp_path):
    checkout = fake_checkout(tmp_path)
    bootstrap(checkout, "--dev")
    with (checkout / "requirements.txt").open("a") as requirements:
        requirements.write("# changed\n")
    bootstrap(checkout)
    bootstrap(checkout)
    assert pip_installs(checkout) == ["requirements-dev.txt", "requirements.txt"]
    assert len(list((checkout / ".venv").glob(".requirements-*"))) == 1
