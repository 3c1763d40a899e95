"""Tests of sklearn_zlp.io: reading, writing and HyperSpy interop of EEL spectra."""

import importlib.util
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from sklearn_zlp.io import (
    SpectraFile,
    from_hyperspy,
    read_spectra,
    to_hyperspy,
    write_spectra,
)

WS2_FILE = (
    Path(__file__).resolve().parents[1]
    / "sklearn_zlp"
    / "datasets"
    / "data"
    / "ws2_specimen4"
    / "sample_14.txt"
)
# Axis of the bundled files, from their README: bin centres of 1981 bins.
WS2_N = 1981
WS2_DISPERSION = (45.471 + 4.054) / WS2_N
WS2_OFFSET = -4.054 + 0.5 * WS2_DISPERSION
WS2_ENERGY = -4.054 + (45.471 + 4.054) * (np.arange(WS2_N) + 0.5) / WS2_N

METADATA = {
    "beam_energy": 200.0,
    "exposure_time": 0.05,
    "collection_angle": 12.5,
    "convergence_angle": 8.0,
}
QUANTITIES = tuple(METADATA)
KEYS = {
    "beam_energy",
    "exposure_time",
    "collection_angle",
    "convergence_angle",
    "navigation_shape",
    "source",
    "format",
    "original_metadata",
}


@pytest.fixture
def image():
    """A (2, 3) spectrum image of 40 channels on a uniform axis."""
    rng = np.random.default_rng(0)
    energy = np.linspace(-2.0, 10.0, 40)
    spectra = 1e3 * np.exp(-0.5 * (energy / 0.3) ** 2) + rng.normal(50.0, 5.0, (2, 3, 40))
    return spectra, energy


def _assert_quantities(metadata, expected):
    for key in QUANTITIES:
        if expected.get(key) is None:
            assert metadata[key] is None, key
        else:
            assert metadata[key] == pytest.approx(expected[key], rel=1e-12), key


# ------------------------------------------------------------------ real data, text


def test_reads_bundled_ws2_rows_file_with_offset_and_dispersion():
    spectra, energy, metadata = read_spectra(WS2_FILE, energy=(WS2_OFFSET, WS2_DISPERSION))
    assert spectra.shape == (1, WS2_N)
    assert spectra.dtype == np.float64 and energy.dtype == np.float64
    assert_array_equal(spectra[0], np.loadtxt(WS2_FILE))
    assert_allclose(energy, WS2_ENERGY, rtol=0, atol=1e-12)
    assert set(metadata) == KEYS
    assert metadata["navigation_shape"] == ()
    assert metadata["format"] == "text"
    assert metadata["source"] == str(WS2_FILE)
    assert metadata["beam_energy"] is None and metadata["original_metadata"] == {}


def test_read_spectra_returns_a_named_tuple():
    result = read_spectra(WS2_FILE, energy=WS2_ENERGY)
    assert isinstance(result, SpectraFile)
    assert result.spectra is result[0] and result.energy is result[1]
    assert_array_equal(result.energy, WS2_ENERGY)


def test_rows_file_without_energy_says_how_to_pass_one():
    with pytest.raises(
        ValueError, match=r"sample_14\.txt.*1981 channels but no energy axis"
    ):
        read_spectra(WS2_FILE)
    with pytest.raises(ValueError, match=r"energy=\(offset, dispersion\)"):
        read_spectra(WS2_FILE)


def test_wrong_length_energy_is_rejected_naming_the_file():
    with pytest.raises(
        ValueError, match=r"sample_14\.txt.*5 channels but the spectra have 1981"
    ):
        read_spectra(WS2_FILE, energy=np.arange(5.0))
    with pytest.raises(ValueError, match=r"2 values .* pass a tuple"):
        read_spectra(WS2_FILE, energy=[WS2_OFFSET, WS2_DISPERSION])
    with pytest.raises(ValueError, match=r"dispersion.*positive"):
        read_spectra(WS2_FILE, energy=(0.0, -0.025))


def test_columns_file_from_savetxt_with_header_reads_right(tmp_path):
    energy = np.linspace(-1.0, 5.0, 30)
    spectra = np.vstack([np.exp(-(energy**2)), 2.0 * np.exp(-(energy**2))])
    path = tmp_path / "export.txt"
    np.savetxt(
        path,
        np.column_stack([energy, spectra.T]),
        header="Energy (eV)\tCounts A\tCounts B",
        comments="",
        delimiter="\t",
    )
    read, axis, metadata = read_spectra(path)
    assert read.shape == (2, 30)
    assert_allclose(read, spectra, rtol=1e-15)
    assert_allclose(axis, energy, rtol=1e-15)
    assert metadata["navigation_shape"] == (2,)
    assert metadata["original_metadata"]["column_names"] == [
        "Energy (eV)",
        "Counts A",
        "Counts B",
    ]
    # the same file with the header as a comment
    commented = tmp_path / "commented.dat"
    np.savetxt(commented, np.column_stack([energy, spectra.T]), header="energy counts")
    assert_allclose(read_spectra(commented).spectra, spectra, rtol=1e-15)


def test_semicolon_csv_with_text_header_and_decimal_commas(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_text(
        "Energy loss (eV);Intensity\n-0,5;10,5\n0,0;100,25\n0,5;20,0\n1,0;5,5\n",
        encoding="utf-8",
    )
    spectra, energy, _ = read_spectra(path)
    assert_allclose(energy, [-0.5, 0.0, 0.5, 1.0])
    assert_allclose(spectra, [[10.5, 100.25, 20.0, 5.5]])


def test_kev_energy_column_is_converted_to_ev(tmp_path):
    path = tmp_path / "kev.csv"
    path.write_text("energy_keV,counts\n-0.001,1\n0.0,5\n0.001,2\n0.002,1\n")
    _, energy, _ = read_spectra(path)
    assert_allclose(energy, [-1.0, 0.0, 1.0, 2.0], atol=1e-12)


def test_single_column_is_one_spectrum(tmp_path):
    path = tmp_path / "one_column.txt"
    np.savetxt(path, np.arange(6.0))
    spectra, energy, metadata = read_spectra(path, energy=(0.0, 0.1))
    assert spectra.shape == (1, 6) and metadata["navigation_shape"] == ()


def test_columns_energy_argument_overrides_the_file_axis(tmp_path, image):
    spectra, energy = image
    path = write_spectra(tmp_path / "s.csv", spectra[0, 0], energy)
    _, axis, _ = read_spectra(path, energy=energy + 1.0)
    assert_allclose(axis, energy + 1.0)
    with pytest.raises(ValueError, match=r"s\.csv.*3 channels but the spectra have 40"):
        read_spectra(path, energy=[0.0, 1.0, 2.0])


# ------------------------------------------------------------------ round trips


@pytest.mark.parametrize("ext", [".txt", ".csv", ".tsv", ".dat", ".npz", ".hspy"])
def test_spectrum_image_round_trip(tmp_path, image, ext):
    if ext == ".hspy":
        pytest.importorskip("rsciio")
    spectra, energy = image
    path = tmp_path / f"image{ext}"
    assert write_spectra(path, spectra, energy, METADATA) is path
    read, axis, metadata = read_spectra(path)
    assert_array_equal(read, spectra.reshape(6, 40))
    assert_allclose(axis, energy, rtol=0, atol=1e-12)
    assert metadata["navigation_shape"] == (2, 3)
    assert_array_equal(read.reshape(*metadata["navigation_shape"], -1), spectra)
    _assert_quantities(metadata, METADATA)
    assert set(metadata) == KEYS
    assert metadata["source"] == str(path)


@pytest.mark.parametrize("ext", [".csv", ".npz", ".hspy"])
def test_single_spectrum_and_missing_metadata_round_trip(tmp_path, image, ext):
    if ext == ".hspy":
        pytest.importorskip("rsciio")
    spectra, energy = image
    path = write_spectra(tmp_path / f"one{ext}", spectra[1, 2], energy)
    read, axis, metadata = read_spectra(path)
    assert read.shape == (1, 40) and metadata["navigation_shape"] == ()
    assert_array_equal(read[0], spectra[1, 2])
    _assert_quantities(metadata, {})


@pytest.mark.parametrize("ext", [".csv", ".npz", ".hspy"])
def test_non_uniform_axis_round_trips_exactly(tmp_path, ext):
    if ext == ".hspy":
        pytest.importorskip("rsciio")
    energy = np.array([-1.0, -0.3, 0.0, 0.1, 0.7, 2.0])
    spectra = np.arange(12.0).reshape(2, 6)
    read, axis, metadata = read_spectra(
        write_spectra(tmp_path / f"nu{ext}", spectra, energy)
    )
    assert_array_equal(axis, energy)
    assert_array_equal(read, spectra)
    assert metadata["navigation_shape"] == (2,)


def test_text_round_trip_is_bit_exact_and_readable(tmp_path):
    rng = np.random.default_rng(3)
    spectra = rng.normal(size=(3, 25)) * 10.0 ** rng.integers(-8, 8, size=(3, 25))
    energy = np.sort(rng.uniform(-3, 30, 25))
    path = write_spectra(tmp_path / "exact.csv", spectra, energy, {"beam_energy": 60.0})
    text = path.read_text().splitlines()
    assert "energy_eV,spectrum_0,spectrum_1,spectrum_2" in text
    assert "# beam_energy_keV: 60.0" in text
    read, axis, metadata = read_spectra(path)
    assert_array_equal(read, spectra)
    assert_array_equal(axis, energy)
    assert metadata["beam_energy"] == 60.0


def test_own_text_file_keeps_columns_layout_when_heuristic_would_say_rows(tmp_path):
    # 8 spectra of 5 channels: fewer lines than columns, yet the layout comment wins
    spectra = np.arange(40.0).reshape(8, 5)
    path = write_spectra(tmp_path / "wide.txt", spectra, np.arange(5.0))
    read, axis, metadata = read_spectra(path)
    assert_array_equal(read, spectra)
    assert metadata["navigation_shape"] == (8,)


def test_npy_reads_one_spectrum_and_spectrum_images(tmp_path, image):
    spectra, energy = image
    np.save(tmp_path / "one.npy", spectra[0, 0])
    np.save(tmp_path / "image.npy", spectra)
    one, axis, metadata = read_spectra(tmp_path / "one.npy", energy=energy)
    assert one.shape == (1, 40) and metadata["navigation_shape"] == ()
    assert metadata["format"] == "npy"
    assert_array_equal(axis, energy)
    read, _, metadata = read_spectra(
        tmp_path / "image.npy", energy=(energy[0], energy[1] - energy[0])
    )
    assert_array_equal(read, spectra.reshape(6, 40))
    assert metadata["navigation_shape"] == (2, 3)
    with pytest.raises(ValueError, match=r"image\.npy.*no energy axis"):
        read_spectra(tmp_path / "image.npy")


def test_npz_with_data_key_and_0d_metadata(tmp_path, image):
    spectra, energy = image
    path = tmp_path / "archive.npz"
    np.savez(path, data=spectra[0], energy=energy, beam_energy=np.float64(300.0), note="x")
    read, axis, metadata = read_spectra(path)
    assert read.shape == (3, 40) and metadata["navigation_shape"] == (3,)
    assert metadata["beam_energy"] == 300.0 and metadata["exposure_time"] is None
    assert metadata["original_metadata"]["note"] == "x"
    _, override, _ = read_spectra(path, energy=energy * 2)
    assert_array_equal(override, energy * 2)
    np.savez(tmp_path / "no_energy.npz", spectra=spectra)
    with pytest.raises(ValueError, match=r"no_energy\.npz.*no energy axis"):
        read_spectra(tmp_path / "no_energy.npz")
    np.savez(tmp_path / "wrong.npz", counts=spectra)
    with pytest.raises(ValueError, match=r"neither 'spectra' nor 'data'"):
        read_spectra(tmp_path / "wrong.npz")


def test_msa_round_trip(tmp_path, image):
    pytest.importorskip("rsciio")
    spectra, energy = image
    path = write_spectra(tmp_path / "one.msa", spectra[0, 0], energy, METADATA)
    read, axis, metadata = read_spectra(path)
    assert read.shape == (1, 40)
    assert_allclose(read[0], spectra[0, 0], rtol=0, atol=1e-6)  # 6 decimals in MSA
    assert_allclose(axis, energy, rtol=0, atol=1e-12)
    _assert_quantities(metadata, METADATA)
    assert metadata["format"] == "msa" and metadata["navigation_shape"] == ()
    # the standard gives the integration time in ms
    assert metadata["original_metadata"]["INTEGTIME"] == pytest.approx(50.0)
    assert metadata["original_metadata"]["SIGNALTYPE"] == "ELS"


def test_msa_written_by_rosettasciio_reads_right(tmp_path):
    msa = pytest.importorskip("rsciio.msa")
    data = np.linspace(1.0, 2.0, 16)
    signal = {
        "data": data,
        "axes": [
            {
                "name": "Energy loss",
                "size": 16,
                "offset": -0.5,
                "scale": 0.1,
                "units": "eV",
                "navigate": False,
            }
        ],
        "metadata": {
            "General": {"title": "rsciio"},
            "Signal": {"signal_type": "EELS"},
            "Acquisition_instrument": {
                "TEM": {
                    "beam_energy": 300.0,
                    "convergence_angle": 21.0,
                    "Detector": {"EELS": {"collection_angle": 36.0, "exposure": 250.0}},
                }
            },
        },
        "original_metadata": {},
    }
    msa.file_writer(str(tmp_path / "rsciio.msa"), signal)
    spectra, energy, metadata = read_spectra(tmp_path / "rsciio.msa")
    assert_allclose(spectra[0], data, atol=1e-6)
    assert_allclose(energy, -0.5 + 0.1 * np.arange(16), atol=1e-12)
    _assert_quantities(
        metadata,
        {
            "beam_energy": 300.0,
            "convergence_angle": 21.0,
            "collection_angle": 36.0,
            "exposure_time": 0.25,  # INTEGTIME is in ms
        },
    )


def test_msa_cannot_hold_several_spectra_or_a_non_uniform_axis(tmp_path, image):
    pytest.importorskip("rsciio")
    spectra, energy = image
    with pytest.raises(ValueError, match=r"MSA file holds one spectrum, got 6"):
        write_spectra(tmp_path / "many.msa", spectra, energy)
    with pytest.raises(ValueError, match=r"uniform energy axis"):
        write_spectra(tmp_path / "nu.msa", [1.0, 2.0, 3.0], [0.0, 1.0, 3.0])


def test_axis_without_energy_units_warns(tmp_path):
    msa = pytest.importorskip("rsciio.msa")
    axis = {
        "name": "",
        "size": 4,
        "offset": 0.0,
        "scale": 1.0,
        "units": "",
        "navigate": False,
    }
    signal = {
        "data": np.ones(4),
        "axes": [axis],
        "metadata": {"General": {"title": ""}, "Signal": {"signal_type": ""}},
        "original_metadata": {},
    }
    msa.file_writer(str(tmp_path / "channels.msa"), signal)
    with pytest.warns(UserWarning, match=r"units '\(none\)', not eV"):
        _, energy, _ = read_spectra(tmp_path / "channels.msa")
    assert_array_equal(energy, np.arange(4.0))


# ------------------------------------------------------------------ rosettasciio files


def _hspy_signal(data, axes, metadata=None):
    return {
        "data": data,
        "axes": axes,
        "metadata": metadata or {"General": {"title": ""}, "Signal": {"signal_type": ""}},
        "original_metadata": {"Vendor": {"gain": 1.5}},
        "tmp_parameters": {},
        "attributes": {"_lazy": False},
        "learning_results": {},
        "models": {},
        "package_info": {"package": "", "package_version": ""},
    }


def test_hspy_kev_axis_is_converted_and_original_metadata_kept(tmp_path):
    hspy = pytest.importorskip("rsciio.hspy")
    axis = {"name": "E", "size": 5, "offset": -0.001, "scale": 0.0005, "units": "keV"}
    signal = _hspy_signal(np.arange(5.0), [{**axis, "navigate": False}])
    hspy.file_writer(str(tmp_path / "kev.hspy"), signal, show_progressbar=False)
    _, energy, metadata = read_spectra(tmp_path / "kev.hspy")
    assert_allclose(energy, [-1.0, -0.5, 0.0, 0.5, 1.0], atol=1e-12)
    assert metadata["original_metadata"]["Vendor"]["gain"] == 1.5


def test_hspy_image_is_rejected_and_signal_index_checked(tmp_path):
    hspy = pytest.importorskip("rsciio.hspy")
    axes = [
        {
            "name": n,
            "size": 4,
            "offset": 0.0,
            "scale": 1.0,
            "units": "nm",
            "navigate": False,
        }
        for n in ("y", "x")
    ]
    path = tmp_path / "image.hspy"
    hspy.file_writer(str(path), _hspy_signal(np.ones((4, 4)), axes), show_progressbar=False)
    with pytest.raises(
        ValueError, match=r"image\.hspy.*not a set of 1-D spectra.*2 signal axes"
    ):
        read_spectra(path)
    with pytest.raises(ValueError, match=r"signal_index=3 is out of range.*1 signal"):
        read_spectra(path, signal_index=3)


def test_emd_spectrum_image_reads_through_rosettasciio(tmp_path, image):
    emd = pytest.importorskip("rsciio.emd")
    spectra, energy = image
    axes = [
        {
            "name": "y",
            "size": 2,
            "offset": 0.0,
            "scale": 1.0,
            "units": "nm",
            "navigate": True,
        },
        {
            "name": "x",
            "size": 3,
            "offset": 0.0,
            "scale": 1.0,
            "units": "nm",
            "navigate": True,
        },
        {
            "name": "Energy loss",
            "size": 40,
            "offset": float(energy[0]),
            "scale": float(energy[1] - energy[0]),
            "units": "eV",
            "navigate": False,
        },
    ]
    signal = {
        "data": spectra,
        "axes": axes,
        "metadata": {"General": {"title": "si"}, "Signal": {"signal_type": ""}},
        "original_metadata": {},
    }
    emd.file_writer(str(tmp_path / "si.emd"), signal)
    read, axis, metadata = read_spectra(tmp_path / "si.emd")
    assert_array_equal(read, spectra.reshape(6, 40))
    assert_allclose(axis, energy, atol=1e-12)
    assert metadata["navigation_shape"] == (2, 3) and metadata["format"] == "emd"


def _write_dm(path, data, calibrations, image_tags, version=3):
    """Write a minimal Gatan DM3/DM4 file (no open writer exists to make one).

    ``data`` in numpy order, ``calibrations`` one ``(offset, scale, units)`` per numpy
    axis. Follows the tag layout that RosettaSciIO's reader parses.
    """
    length_format = ">i" if version == 3 else ">q"

    def length(n):
        return struct.pack(length_format, n)

    def tag_name(tag_id, key):
        raw = b"" if key.startswith("\0") else key.encode("latin-1")  # "\0...": unnamed
        return struct.pack(">bh", tag_id, len(raw)) + raw

    def data_tag(key, info, payload):
        body = b"%%%%" + length(len(info)) + b"".join(length(i) for i in info) + payload
        size = struct.pack(">q", len(body)) if version == 4 else b""
        return tag_name(21, key) + size + body

    def value(key, v):
        if isinstance(v, str):  # array of uint16 characters
            return data_tag(
                key, [20, 4, len(v)], np.array([ord(c) for c in v], "<u2").tobytes()
            )
        if isinstance(v, np.ndarray):  # array of float64
            return data_tag(key, [20, 7, v.size], v.astype("<f8").tobytes())
        if isinstance(v, int):  # uint32
            return data_tag(key, [5], struct.pack("<I", v))
        return data_tag(key, [7], struct.pack("<d", v))  # float64

    def group(key, items, root=False):
        body = b"".join(
            group(k, v) if isinstance(v, dict) else value(k, v) for k, v in items.items()
        )
        head = struct.pack(">bb", 0, 1)
        if version == 4 and not root:
            head += struct.pack(">q", len(body))
        head += length(len(items))
        return head + body if root else tag_name(20, key) + head + body

    dm_order = list(range(data.ndim))[::-1]  # DM lists dimensions fastest first
    image = {
        "ImageData": {
            "Calibrations": {
                "Brightness": {"Origin": 0.0, "Scale": 1.0, "Units": "Counts"},
                "Dimension": {
                    f"\0{i}": {
                        "Origin": -calibrations[j][0] / calibrations[j][1],
                        "Scale": calibrations[j][1],
                        "Units": calibrations[j][2],
                    }
                    for i, j in enumerate(dm_order)
                },
            },
            "Data": np.ascontiguousarray(data, dtype=np.float64).ravel(),
            "DataType": 12,  # float64
            "Dimensions": {f"\0{i}": int(data.shape[j]) for i, j in enumerate(dm_order)},
        },
        "ImageTags": image_tags,
        "Name": "test",
    }
    blob = group("", {"ImageList": {"\0image": image}}, root=True)
    header = struct.pack(">i", version) + length(len(blob) + 8) + struct.pack(">i", 1)
    Path(path).write_bytes(header + blob + b"\0" * 8)


DM_TAGS = {
    "Meta Data": {"Format": "Spectrum", "Signal": "EELS"},
    "Microscope Info": {"Voltage": 200000.0},
    "EELS": {
        "Experimental Conditions": {
            "Collection semi-angle (mrad)": 12.5,
            "Convergence semi-angle (mrad)": 8.0,
        },
        "Acquisition": {"Exposure (s)": 0.025, "Number of frames": 2},
    },
}


@pytest.mark.parametrize("version", [3, 4])
def test_digital_micrograph_spectrum_reads_with_metadata(tmp_path, image, version):
    pytest.importorskip("rsciio.digitalmicrograph")
    spectra, energy = image
    path = tmp_path / f"spectrum.dm{version}"
    step = energy[1] - energy[0]
    _write_dm(
        path, spectra[0, :1], [(0.0, 1.0, ""), (energy[0], step, "eV")], DM_TAGS, version
    )
    read, axis, metadata = read_spectra(path)
    assert_array_equal(read, spectra[0, :1])
    assert_allclose(axis, energy, atol=1e-12)
    assert metadata["navigation_shape"] == ()  # the 1 x n image is squeezed
    assert metadata["format"] == f"dm{version}"
    # Voltage 200 kV; exposure is per frame times 2 frames
    _assert_quantities(metadata, {**METADATA, "exposure_time": 0.05})
    assert "ImageList" in metadata["original_metadata"]


def test_digital_micrograph_spectrum_image_matches_hyperspy(tmp_path, image):
    pytest.importorskip("rsciio.digitalmicrograph")
    hs = pytest.importorskip("hyperspy.api")
    spectra, energy = image
    tags = {**DM_TAGS, "Meta Data": {"Format": "Spectrum image", "Signal": "EELS"}}
    path = tmp_path / "si.dm3"
    calibrations = [
        (energy[0], energy[1] - energy[0], "eV"),
        (0, 0.5, "nm"),
        (0, 0.5, "nm"),
    ]
    # DM keeps a spectrum image as (energy, y, x) in numpy order
    _write_dm(path, np.moveaxis(spectra, -1, 0), calibrations, tags)
    read, axis, metadata = read_spectra(path)
    assert metadata["navigation_shape"] == (2, 3)
    assert_array_equal(read, spectra.reshape(6, 40))
    assert_allclose(axis, energy, atol=1e-12)
    reference = hs.load(path)
    assert_array_equal(read.reshape(2, 3, 40), reference.data)
    assert metadata["exposure_time"] == reference.metadata.get_item(
        "Acquisition_instrument.TEM.Detector.EELS.exposure"
    )


def test_truncated_or_garbage_binary_files_raise_value_error(tmp_path, image):
    pytest.importorskip("rsciio")
    spectra, energy = image
    full = tmp_path / "full.dm3"
    _write_dm(full, spectra[0, :1], [(0.0, 1.0, ""), (energy[0], 0.3, "eV")], DM_TAGS)
    cut = tmp_path / "cut.dm3"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(ValueError, match=r"'.*cut\.dm3' is truncated"):
        read_spectra(cut)
    (tmp_path / "junk.hspy").write_bytes(b"not an hdf5 file")
    with pytest.raises(ValueError, match=r"'.*junk\.hspy' is not a hspy file"):
        read_spectra(tmp_path / "junk.hspy")


# ------------------------------------------------------------------ bad input


def test_missing_file_and_unknown_extension(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"No such file: '.*absent\.txt'"):
        read_spectra(tmp_path / "absent.txt")
    (tmp_path / "data.xyz").write_text("1 2 3\n")
    with pytest.raises(
        ValueError, match=r"unknown extension '\.xyz'.*Supported.*\.csv.*\.dm3"
    ):
        read_spectra(tmp_path / "data.xyz")
    with pytest.raises(ValueError, match=r"layout='diagonal' is not supported"):
        read_spectra(WS2_FILE, layout="diagonal")


def test_garbage_text_names_file_and_line(tmp_path):
    path = tmp_path / "garbage.txt"
    path.write_text("1.0 2.0 3.0\n4.0 five 6.0\n")
    with pytest.raises(ValueError, match=r"garbage\.txt.*line 2 is not numeric.*'five'"):
        read_spectra(path, energy=(0.0, 1.0))
    path.write_text("# only comments\n\n")
    with pytest.raises(ValueError, match=r"garbage\.txt.*no numeric data"):
        read_spectra(path)


def test_ragged_rows_are_rejected(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("1,2,3,4\n5,6\n7,8,9,10\n")
    with pytest.raises(
        ValueError, match=r"ragged\.csv.*line 2 has 2 values but line 1 has 4"
    ):
        read_spectra(path, energy=(0.0, 1.0))


def test_nan_in_data_is_rejected_with_a_hint(tmp_path):
    path = tmp_path / "nan.txt"
    path.write_text("1.0 nan 3.0 4.0\n")
    with pytest.raises(
        ValueError, match=r"nan\.txt.*1 NaN or infinite.*channel 1.*interpolate"
    ):
        read_spectra(path, energy=(0.0, 1.0))
    np.save(tmp_path / "inf.npy", np.array([1.0, np.inf, 2.0]))
    with pytest.raises(ValueError, match=r"inf\.npy.*NaN or infinite"):
        read_spectra(tmp_path / "inf.npy", energy=(0.0, 1.0))


def test_decreasing_energy_column(tmp_path):
    energy = np.linspace(5.0, -1.0, 20)
    path = tmp_path / "decreasing.txt"
    np.savetxt(path, np.column_stack([energy, np.ones(20)]))
    with pytest.raises(
        ValueError, match=r"energy axis.*decreasing\.txt.*strictly increasing"
    ):
        read_spectra(path, layout="columns")
    # "auto" cannot take it as an axis, and says what it did instead
    with pytest.raises(ValueError, match=r"no energy axis.*layout='columns'"):
        read_spectra(path)


def test_single_column_cannot_be_columns_layout(tmp_path):
    path = tmp_path / "column.txt"
    np.savetxt(path, np.arange(5.0))
    with pytest.raises(ValueError, match=r"single column.*layout='rows'"):
        read_spectra(path, layout="columns")


def test_write_rejects_unwritable_formats_and_inconsistent_input(tmp_path, image):
    spectra, energy = image
    with pytest.raises(ValueError, match=r"'\.dm3' is not supported.*cannot be written"):
        write_spectra(tmp_path / "x.dm3", spectra, energy)
    with pytest.raises(ValueError, match=r"\.npy file cannot hold the energy axis.*\.npz"):
        write_spectra(tmp_path / "x.npy", spectra, energy)
    with pytest.raises(ValueError, match=r"navigation_shape'\] = \(4, 2\) holds 8 spectra"):
        write_spectra(tmp_path / "x.npz", spectra, energy, {"navigation_shape": (4, 2)})
    with pytest.raises(
        ValueError, match=r"metadata\['beam_energy'\] must be a finite number"
    ):
        write_spectra(tmp_path / "x.npz", spectra, energy, {"beam_energy": "high"})
    with pytest.raises(ValueError, match=r"energy has 39 channels but the spectra have 40"):
        write_spectra(tmp_path / "x.npz", spectra, energy[:-1])
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("ext", [".csv", ".npz", ".hspy", ".msa"])
def test_write_leaves_inputs_unchanged_and_read_leaves_file_unchanged(tmp_path, image, ext):
    if ext in (".hspy", ".msa"):
        pytest.importorskip("rsciio")
    spectra, energy = image
    if ext == ".msa":
        spectra = spectra[0, 0]
    metadata = {**METADATA, "navigation_shape": spectra.shape[:-1], "original_metadata": {}}
    copies = spectra.copy(), energy.copy(), dict(metadata)
    path = write_spectra(tmp_path / f"x{ext}", spectra, energy, metadata)
    assert_array_equal(spectra, copies[0])
    assert_array_equal(energy, copies[1])
    assert metadata == copies[2]
    before = path.read_bytes()
    read, axis, _ = read_spectra(path)
    read[:] = 0.0
    axis[:] = 0.0
    assert path.read_bytes() == before
    assert_array_equal(spectra, copies[0])


def test_missing_optional_dependencies_give_install_hints(tmp_path, monkeypatch, image):
    spectra, energy = image
    (tmp_path / "a.msa").write_text("#FORMAT : EMSA\n")
    monkeypatch.setitem(sys.modules, "rsciio", None)
    with pytest.raises(ImportError, match=r'pip install "sklearn-zlp\[io\]"'):
        read_spectra(tmp_path / "a.msa")
    monkeypatch.setitem(sys.modules, "hyperspy.api", None)
    with pytest.raises(ImportError, match=r'pip install "sklearn-zlp\[hyperspy\]"'):
        to_hyperspy(spectra, energy)


@pytest.mark.skipif(
    importlib.util.find_spec("zarr") is not None, reason="zarr installed: zspy readable"
)
def test_zspy_without_zarr_says_what_to_install(tmp_path):
    pytest.importorskip("rsciio")
    os.mkdir(tmp_path / "store.zspy")
    with pytest.raises(ImportError, match=r"zspy plugin.*pip install"):
        read_spectra(tmp_path / "store.zspy")


# ------------------------------------------------------------------ HyperSpy


def test_hyperspy_spectrum_image_round_trip(image):
    pytest.importorskip("hyperspy.api")
    spectra, energy = image
    flat = spectra.reshape(6, 40)
    metadata = {**METADATA, "navigation_shape": (2, 3), "source": "my SI"}
    signal = to_hyperspy(flat, energy, metadata)
    assert signal.data.shape == (2, 3, 40)
    assert not np.shares_memory(signal.data, flat)
    axis = signal.axes_manager.signal_axes[0]
    assert axis.name == "Energy loss" and axis.units == "eV"
    assert axis.offset == pytest.approx(energy[0]) and axis.scale == pytest.approx(
        energy[1] - energy[0]
    )
    assert signal.axes_manager.navigation_shape == (3, 2)  # HyperSpy lists x first
    md = signal.metadata
    assert md.Acquisition_instrument.TEM.beam_energy == 200.0
    assert md.Acquisition_instrument.TEM.convergence_angle == 8.0
    assert md.Acquisition_instrument.TEM.Detector.EELS.collection_angle == 12.5
    assert md.Acquisition_instrument.TEM.Detector.EELS.exposure == 0.05
    assert md.General.title == "my SI"

    read, axis_values, back = from_hyperspy(signal)
    assert_array_equal(read, flat)
    assert_allclose(axis_values, energy, rtol=0, atol=1e-12)
    assert back["navigation_shape"] == (2, 3)
    assert back["format"] == "hyperspy" and back["source"] == "my SI"
    assert set(back) == KEYS
    _assert_quantities(back, METADATA)


def test_hyperspy_non_uniform_axis_and_lazy_signal():
    pytest.importorskip("hyperspy.api")
    energy = np.array([-1.0, -0.3, 0.0, 0.1, 0.7, 2.0])
    spectra = np.arange(18.0).reshape(3, 6)
    signal = to_hyperspy(spectra, energy)
    assert not signal.axes_manager.signal_axes[0].is_uniform
    read, axis, metadata = from_hyperspy(signal.as_lazy())
    assert_array_equal(read, spectra)
    assert_array_equal(axis, energy)
    assert metadata["navigation_shape"] == (3,)
    _assert_quantities(metadata, {})


def test_from_hyperspy_converts_kev_and_rejects_images_and_non_signals():
    hs = pytest.importorskip("hyperspy.api")
    signal = hs.signals.Signal1D(np.ones(5))
    axis = signal.axes_manager.signal_axes[0]
    axis.units, axis.offset, axis.scale = "keV", -0.001, 0.001
    _, energy, metadata = from_hyperspy(signal)
    assert_allclose(energy, [-1.0, 0.0, 1.0, 2.0, 3.0], atol=1e-12)
    assert metadata["navigation_shape"] == ()
    with pytest.raises(ValueError, match=r"2 signal dimensions.*as_signal1D"):
        from_hyperspy(hs.signals.Signal2D(np.ones((4, 4))))
    with pytest.raises(TypeError, match=r"expects a HyperSpy signal, got ndarray"):
        from_hyperspy(np.ones(5))


def test_file_to_hyperspy_to_file_chain(tmp_path, image):
    pytest.importorskip("hyperspy.api")
    pytest.importorskip("rsciio")
    spectra, energy = image
    path = write_spectra(tmp_path / "si.hspy", spectra, energy, METADATA)
    signal = to_hyperspy(*read_spectra(path))
    assert signal.data.shape == (2, 3, 40)
    read, axis, metadata = from_hyperspy(signal)
    assert_array_equal(read, spectra.reshape(6, 40))
    assert metadata["source"] == str(path)
    _assert_quantities(metadata, METADATA)
    again = write_spectra(tmp_path / "again.npz", read, axis, metadata)
    read_again, _, metadata_again = read_spectra(again)
    assert_array_equal(read_again, read)
    assert metadata_again["navigation_shape"] == (2, 3)


# ------------------------------------------------------------------ any real array-like


def _real_array_likes(spectra):
    """The same (2, 40) intensities as several kinds of real array-like."""
    pd = pytest.importorskip("pandas")
    counts = np.round(spectra).astype(np.int64)
    return {
        "float32": spectra.astype(np.float32),
        "int64": counts,
        "uint16": counts.astype(np.uint16),
        "nested list": counts.tolist(),
        "DataFrame": pd.DataFrame(spectra.astype(np.float32)),
    }


@pytest.mark.parametrize("ext", [".csv", ".npz", ".hspy"])
def test_write_spectra_accepts_any_real_array_like(tmp_path, image, ext):
    if ext == ".hspy":
        pytest.importorskip("rsciio")
    pd = pytest.importorskip("pandas")
    spectra, energy = image
    energies = {"list": energy.tolist(), "Series": pd.Series(energy)}
    for i, (kind, data) in enumerate(_real_array_likes(spectra[0, :2]).items()):
        axis = energies["list" if i % 2 else "Series"]
        before = np.array(data, copy=True)
        path = write_spectra(tmp_path / f"{i}{ext}", data, axis)
        read, read_axis, _ = read_spectra(path)
        # float32 and integers are exact in float64, and every format keeps float64
        assert_array_equal(read, np.asarray(data, dtype=np.float64), err_msg=kind)
        assert_array_equal(read_axis, energy, err_msg=kind)
        assert_array_equal(np.asarray(data), before, err_msg=kind)


def test_write_spectra_accepts_a_pandas_series_as_one_spectrum(tmp_path, image):
    pd = pytest.importorskip("pandas")
    spectra, energy = image
    path = write_spectra(tmp_path / "series.csv", pd.Series(spectra[0, 0]), energy)
    read, _, metadata = read_spectra(path)
    assert_array_equal(read, spectra[0, :1])
    assert metadata["navigation_shape"] == ()


def test_write_msa_accepts_integer_counts(tmp_path):
    pytest.importorskip("rsciio")
    counts = np.arange(10, 20, dtype=np.int32)
    path = write_spectra(tmp_path / "int.msa", counts, np.arange(10.0))
    assert_array_equal(read_spectra(path).spectra[0], counts)


def test_to_hyperspy_accepts_any_real_array_like(image):
    pytest.importorskip("hyperspy.api")
    spectra, energy = image
    for kind, data in _real_array_likes(spectra[0, :2]).items():
        signal = to_hyperspy(data, list(energy))
        assert signal.data.dtype == np.float64, kind
        assert_array_equal(signal.data, np.asarray(data, dtype=np.float64), err_msg=kind)
        assert_array_equal(from_hyperspy(signal).spectra, signal.data, err_msg=kind)


def test_from_hyperspy_accepts_float32_and_integer_signals():
    hs = pytest.importorskip("hyperspy.api")
    for dtype in (np.float32, np.int32, np.uint16):
        signal = hs.signals.Signal1D(np.arange(12, dtype=dtype).reshape(2, 6))
        signal.axes_manager.signal_axes[0].units = "eV"
        spectra, _, _ = from_hyperspy(signal)
        assert spectra.dtype == np.float64
        assert_array_equal(spectra, np.arange(12.0).reshape(2, 6))


def test_from_hyperspy_without_units_warns_and_takes_ev():
    hs = pytest.importorskip("hyperspy.api")
    signal = hs.signals.Signal1D(np.ones(4))
    with pytest.warns(UserWarning, match=r"units '\(none\)', not eV.*units = 'eV'"):
        _, energy, _ = from_hyperspy(signal)
    assert_array_equal(energy, np.arange(4.0))


# ------------------------------------------------------------------ package layout


def test_importing_io_imports_no_torch_hyperspy_or_rosettasciio():
    code = (
        "import sys, sklearn_zlp.io; "
        "print(sorted(m for m in ('torch', 'hyperspy', 'rsciio', 'h5py', 'skorch') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_text_file_declares_its_shape_and_ends_with_a_line_break(tmp_path, image):
    spectra, energy = image
    path = write_spectra(tmp_path / "shape.tsv", spectra, energy)
    text = path.read_text()
    assert "# n_spectra: 6\n# n_channels: 40\n" in text
    assert text.endswith("\n")
    assert len(text.splitlines()) == 6 + 1 + 40  # comments, column names, channels


@pytest.mark.parametrize("ext", ["csv", "npz", "hspy"])
def test_failed_spectra_are_written_as_nan_only_when_asked(tmp_path, ext):
    """A subtracted spectrum that failed stays NaN in the file (never 0), and such a
    file is refused as input, naming the NaN."""
    if ext == "hspy":
        pytest.importorskip("rsciio")
    energy = np.linspace(-1.0, 2.0, 7)
    spectra = np.ones((3, 7))
    spectra[1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        write_spectra(tmp_path / f"refused.{ext}", spectra, energy)
    assert not (tmp_path / f"refused.{ext}").exists()
    path = write_spectra(tmp_path / f"s.{ext}", spectra, energy, allow_nan=True)
    with pytest.raises(ValueError, match="7 NaN or infinite intensities"):
        read_spectra(path)
    spectra[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinite values"):
        write_spectra(tmp_path / f"inf.{ext}", spectra, energy, allow_nan=True)
