"""The built wheel holds every module and data file of the source tree ``limprob/``.

The wheel is built from a copy of the project's packaging inputs in a temporary folder (pip,
offline, with the setuptools of this environment), so no stale ``build/`` folder of the source
tree can supply a file the packaging configuration would leave out.
"""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHIPPED_PATTERNS = ("*.py", "*.nc", "py.typed")
"""Files of the source tree an installed limprob needs: its modules, data sets and the typing
marker."""


def source_files() -> set[str]:
    """Paths (relative to the project root, POSIX) of every shipped file under limprob/."""
    return {
        path.relative_to(ROOT).as_posix()
        for pattern in SHIPPED_PATTERNS
        for path in (ROOT / "limprob").rglob(pattern)
        if "__pycache__" not in path.parts
    }


@pytest.fixture(scope="module")
def built_wheel(tmp_path_factory) -> Path:
    """A wheel built from the current source tree."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "limprob", source / "limprob", ignore=shutil.ignore_patterns("__pycache__")
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(tmp / "out"),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    [built] = (tmp / "out").glob("limprob-*.whl")
    return built


@pytest.fixture(scope="module")
def wheel(built_wheel) -> set[str]:
    """The names of the files in the built wheel."""
    with zipfile.ZipFile(built_wheel) as archive:
        return set(archive.namelist())


def test_the_wheel_holds_every_module_and_data_file(wheel):
    files = source_files()
    assert "limprob/inference/step_methods/__init__.py" in files  # the tree was read
    assert sorted(files - wheel) == []


def test_the_wheel_is_marked_typed_and_ships_the_data_set(wheel):
    assert {"limprob/py.typed", "limprob/datasets/device_characterisation.nc"} <= wheel


def test_the_wheel_declares_the_console_script(built_wheel):
    with zipfile.ZipFile(built_wheel) as archive:
        [name] = [n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")]
        entry_points = archive.read(name).decode()
    assert "limprob = limprob.console:main" in entry_points
