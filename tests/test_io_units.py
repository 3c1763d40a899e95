"""Units of a text file's energy column: stated, given with energy_unit=, or checked.

Issue 11: at 2fe5d0a a two-column text file in keV without a header was read as
eV, silently; every later error was silent about units.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from sklearn_zlp.datasets import make_synthetic_eels
from sklearn_zlp.io import read_spectra

# (ZLP FWHM, dispersion) in eV: monochromated to thermionic, 1 meV-0.5 eV per channel.
LOW_LOSS = [(0.02, 0.001), (0.08, 0.01), (0.3, 0.025), (1.0, 0.1), (2.5, 0.5)]


def _low_loss(fwhm, dispersion):
    energy = np.arange(-40, 400) * dispersion
    e_bg = min(1.6, 0.5 * energy[-1])
    return make_synthetic_eels(2, energy=energy, fwhm=fwhm, e_bg=e_bg, random_state=0)


def _two_columns(path, axis, spectra, header=None):
    text = "" if header is None else header + "\n"
    text += "\n".join(
        " ".join(repr(float(v)) for v in row) for row in np.column_stack([axis, spectra.T])
    )
    path.write_text(text + "\n")
    return path


@pytest.mark.parametrize(("fwhm", "dispersion"), LOW_LOSS)
def test_a_headerless_kev_file_is_refused_with_a_hint(tmp_path, fwhm, dispersion):
    data = _low_loss(fwhm, dispersion)
    path = _two_columns(tmp_path / "kev.txt", data.energy / 1e3, data.spectra)
    with pytest.raises(ValueError, match=r"looks like keV.*energy_unit='keV'"):
        read_spectra(path)
    spectra, energy, _ = read_spectra(path, energy_unit="keV")
    assert_allclose(energy, data.energy, rtol=1e-12, atol=1e-12)
    assert_allclose(spectra, data.spectra, rtol=1e-15)


@pytest.mark.parametrize(("fwhm", "dispersion"), LOW_LOSS)
def test_a_headerless_mev_file_is_refused_with_a_hint(tmp_path, fwhm, dispersion):
    data = _low_loss(fwhm, dispersion)
    path = _two_columns(tmp_path / "mev.csv", data.energy * 1e3, data.spectra)
    path.write_text(path.read_text().replace(" ", ","))
    if fwhm * 1e3 > 10.0:
        with pytest.raises(ValueError, match=r"looks like meV.*energy_unit='meV'"):
            read_spectra(path)
    _, energy, _ = read_spectra(path, energy_unit="meV")
    assert_allclose(energy, data.energy, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("fwhm", "dispersion"), LOW_LOSS)
def test_a_headerless_ev_file_reads_as_ev(tmp_path, fwhm, dispersion):
    data = _low_loss(fwhm, dispersion)
    path = _two_columns(tmp_path / "ev.dat", data.energy, data.spectra)
    _, energy, _ = read_spectra(path)
    assert_allclose(energy, data.energy, rtol=1e-12, atol=1e-15)


def test_a_core_loss_kev_file_is_refused_by_its_dispersion(tmp_path):
    # No ZLP on the axis: 0.2 eV per channel written in keV reads as 0.2 meV.
    axis = 0.4 + 2e-4 * np.arange(500)
    path = _two_columns(tmp_path / "edge.txt", axis, np.ones((1, 500)) + axis[None])
    with pytest.raises(ValueError, match="looks like keV: its channels are"):
        read_spectra(path)
    _, energy, _ = read_spectra(path, energy_unit="keV")
    assert_allclose(energy, axis * 1e3)


def test_energy_unit_ev_reads_a_fine_axis_as_it_is(tmp_path):
    axis = 1e-4 * np.arange(-50, 200)
    path = _two_columns(tmp_path / "fine.txt", axis, np.ones((1, 250)))
    with pytest.raises(ValueError, match="looks like keV"):
        read_spectra(path)
    _, energy, _ = read_spectra(path, energy_unit="eV")
    assert_allclose(energy, axis)


def test_a_header_that_states_the_unit_wins_and_must_agree(tmp_path):
    data = _low_loss(0.3, 0.025)
    path = _two_columns(
        tmp_path / "kev.txt", data.energy / 1e3, data.spectra, header="energy_keV a b"
    )
    _, energy, _ = read_spectra(path)  # the header says keV: no guess needed
    assert_allclose(energy, data.energy, atol=1e-12)
    _, energy, _ = read_spectra(path, energy_unit="keV")
    assert_allclose(energy, data.energy, atol=1e-12)
    with pytest.raises(ValueError, match=r"headed 'energy_keV'.*energy_unit says 'eV'"):
        read_spectra(path, energy_unit="eV")


def test_a_header_without_a_unit_is_checked_like_no_header(tmp_path):
    data = _low_loss(0.3, 0.025)
    path = _two_columns(tmp_path / "e.txt", data.energy / 1e3, data.spectra, "E a b")
    with pytest.raises(ValueError, match="looks like keV"):
        read_spectra(path)


def test_energy_unit_is_checked(tmp_path):
    data = _low_loss(0.3, 0.025)
    path = _two_columns(tmp_path / "ev.txt", data.energy, data.spectra)
    with pytest.raises(ValueError, match=r"energy_unit='kev' is not one of"):
        read_spectra(path, energy_unit="kev")
    np.save(tmp_path / "s.npy", data.spectra)
    with pytest.raises(ValueError, match="applies to text files"):
        read_spectra(tmp_path / "s.npy", energy=data.energy, energy_unit="keV")
