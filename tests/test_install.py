"""Installing the package prints no warnings of its own making (issue 13).

setuptools warns about a project's layout when building it (a data folder that
"would be ignored", an editable install through a meta-path finder); those are
ours to fix. pip's own notes about its configuration (index locations, cache)
are the machine's, not the package's, and are left out.
"""

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# lines that a machine's pip configuration adds to any install
_MACHINE_NOTES = re.compile(r"^WARNING: Location '.*' is ignored|^WARNING: The directory")


def _build(tmp_path, *args):
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
        + ["-w", str(tmp_path), *args, str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = (done.stdout + done.stderr).splitlines()
    return [
        line for line in lines if "warn" in line.lower() and not _MACHINE_NOTES.search(line)
    ]


@pytest.mark.slow
def test_building_the_wheel_prints_no_warning_and_ships_the_data(tmp_path):
    warnings = _build(tmp_path)
    assert warnings == []
    (wheel,) = tmp_path.glob("sklearn_zlp-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    data = [n for n in names if "datasets/data/ws2_specimen4/" in n]
    assert len(data) == 10  # nine spectra and their README
    assert not [n for n in names if "__pycache__" in n or n.startswith(("tests/", "docs/"))]
