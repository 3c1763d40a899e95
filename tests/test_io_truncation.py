"""Truncated files are rejected, wherever the cut falls.

Each test writes a small file, then reads every prefix of it (or, for the
binary formats with a fixed header, a spread of prefixes): a prefix is either
rejected with a ValueError that names the file, or, where the cut loses nothing
(MSA after its #ENDOFDATA keyword), reads back the same data. Before these checks
existed, truncated MSA and CSV files read as shorter spectra without a word.
"""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from sklearn_zlp.io import read_spectra, write_spectra

ENERGY = np.linspace(-0.5, 1.0, 12)
SPECTRA = np.round(np.exp(-((ENERGY / 0.3) ** 2)) * [[900.0], [1200.5]] + 3.25, 6)


def _prefixes(data, step=1):
    return range(1, len(data), step)


def _rejected(path, **kwargs):
    """The message of the ValueError that reading ``path`` must raise."""
    with pytest.raises(ValueError) as info:
        read_spectra(path, **kwargs)
    message = str(info.value)
    assert path.name in message, message
    assert "allow_pickle" not in message and "pickle.load" not in message
    return message


@pytest.mark.parametrize("ext", [".csv", ".txt"])
def test_own_text_file_cut_anywhere_is_rejected(tmp_path, ext):
    full = write_spectra(tmp_path / f"full{ext}", SPECTRA, ENERGY, {"beam_energy": 60.0})
    data = full.read_bytes()
    first_data_line = data.index(b"\n", data.index(b"energy_eV")) + 1
    cut = tmp_path / f"cut{ext}"
    for n in _prefixes(data):
        cut.write_bytes(data[:n])
        message = _rejected(cut)
        if n > first_data_line:
            assert "truncated" in message, (n, message)


def test_own_text_file_cut_at_a_line_boundary_names_the_missing_channels(tmp_path):
    full = write_spectra(tmp_path / "full.csv", SPECTRA, ENERGY)
    lines = full.read_bytes().splitlines(keepends=True)
    cut = tmp_path / "cut.csv"
    for n_lost in range(1, ENERGY.size):
        cut.write_bytes(b"".join(lines[:-n_lost]))
        message = _rejected(cut)
        assert f"holds {ENERGY.size - n_lost} of the {ENERGY.size} channels" in message


def test_foreign_csv_cut_inside_its_last_line_is_rejected(tmp_path):
    # no header, no declared shape: what np.savetxt writes
    np.savetxt(tmp_path / "full.csv", np.column_stack([ENERGY, SPECTRA.T]), delimiter=",")
    data = (tmp_path / "full.csv").read_bytes()
    last_line = data.rindex(b"\n", 0, len(data) - 1) + 1
    second_comma = data.index(b",", data.index(b",", last_line) + 1)
    cut = tmp_path / "cut.csv"
    for n in range(last_line + 1, second_comma + 1):  # the last line loses a column
        cut.write_bytes(data[:n])
        assert "truncated" in _rejected(cut)


def test_msa_cut_anywhere_before_endofdata_is_rejected(tmp_path):
    pytest.importorskip("rsciio")
    full = write_spectra(tmp_path / "full.msa", SPECTRA[0], ENERGY, {"beam_energy": 60.0})
    data = full.read_bytes()
    complete = data.index(b"#ENDOFDATA") + len(b"#ENDOFDATA")
    first_value = data.index(b"\n", data.index(b"#SPECTRUM")) + 1
    cut = tmp_path / "cut.msa"
    for n in _prefixes(data):
        cut.write_bytes(data[:n])
        if n < complete:
            message = _rejected(cut)
            if n > first_value:
                assert "truncated" in message, (n, message)
        else:  # only the text after the keyword is lost
            spectra, energy, _ = read_spectra(cut)
            assert_array_equal(spectra, SPECTRA[:1])
            assert_array_equal(energy, read_spectra(full).energy)


def test_npy_cut_anywhere_is_rejected(tmp_path):
    np.save(tmp_path / "full.npy", SPECTRA)
    data = (tmp_path / "full.npy").read_bytes()
    cut = tmp_path / "cut.npy"
    for n in _prefixes(data):
        cut.write_bytes(data[:n])
        message = _rejected(cut, energy=ENERGY)
        assert "truncated" in message or "cut off" in message, (n, message)


def test_npz_cut_anywhere_is_rejected(tmp_path):
    full = write_spectra(tmp_path / "full.npz", SPECTRA, ENERGY, {"beam_energy": 60.0})
    data = full.read_bytes()
    cut = tmp_path / "cut.npz"
    for n in _prefixes(data):
        cut.write_bytes(data[:n])
        message = _rejected(cut)
        if n >= 4:  # past the zip signature
            assert "truncated" in message, (n, message)


@pytest.mark.parametrize("fraction", [0.05, 0.25, 0.5, 0.75, 0.99])
def test_hspy_cut_is_rejected_as_truncated(tmp_path, fraction):
    pytest.importorskip("rsciio")
    full = write_spectra(tmp_path / "full.hspy", SPECTRA, ENERGY)
    data = full.read_bytes()
    cut = tmp_path / "cut.hspy"
    cut.write_bytes(data[: int(len(data) * fraction)])
    assert "is truncated: it holds" in _rejected(cut)


def test_hspy_missing_its_last_byte_is_rejected(tmp_path):
    pytest.importorskip("rsciio")
    data = write_spectra(tmp_path / "full.hspy", SPECTRA, ENERGY).read_bytes()
    (tmp_path / "cut.hspy").write_bytes(data[:-1])
    assert f"holds {len(data) - 1} bytes" in _rejected(tmp_path / "cut.hspy")


def test_text_ending_in_blank_space_or_a_comment_after_the_data_is_complete(tmp_path):
    data = write_spectra(tmp_path / "full.csv", SPECTRA, ENERGY).read_bytes()
    for tail in (b"  ", b"\n\t", b"# end of data"):
        path = tmp_path / "tail.csv"
        path.write_bytes(data + tail)
        spectra, energy, _ = read_spectra(path)
        assert_array_equal(spectra, SPECTRA)
        assert_array_equal(energy, ENERGY)
