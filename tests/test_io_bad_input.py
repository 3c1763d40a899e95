"""Every bad input to sklearn_zlp.io we tried, and the error it gets.

One parametrized case per row: the id names the input, ``match`` is (part of) the
message. Each case builds its input under ``tmp_path`` and returns the call that
must fail. Every message from a file names that file, and none passes on NumPy's
advice to load pickles.
"""

import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from sklearn_zlp.io import from_hyperspy, read_spectra, to_hyperspy, write_spectra

ENERGY = np.linspace(-1.0, 5.0, 40)
SPECTRA = np.exp(-(ENERGY**2)) * np.arange(1.0, 7.0).reshape(2, 3, 1) + 1.0


def _write(path, content):
    if isinstance(content, str):
        content = content.encode("utf-8")
    Path(path).write_bytes(content)
    return path


def _own(tmp_path, name, spectra=SPECTRA, metadata=None):
    """A file written by write_spectra, and its bytes."""
    path = write_spectra(tmp_path / name, spectra, ENERGY, metadata)
    return path, path.read_bytes()


def _cut_lines(data, n_lines):
    """``data`` without its last ``n_lines`` lines (ending on a line break)."""
    lines = data.splitlines(keepends=True)
    return b"".join(lines[:-n_lines])


def _msa(tmp_path, name="s.msa"):
    pytest.importorskip("rsciio")
    return _own(tmp_path, name, SPECTRA[0, 0])


def _rows(tmp_path, name, content, **kwargs):
    path = _write(tmp_path / name, content)
    return lambda: read_spectra(path, **kwargs)


class _Trap:
    """Unpickling this creates a directory: proof that a pickle was loaded."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def _dm(path, version=3):
    """A Digital Micrograph file: header, a root group with one 100-value array tag."""
    length_format = ">I" if version == 3 else ">Q"

    def length(n):
        return struct.pack(length_format, n)

    info = [20, 7, 100]  # an array of 100 float64
    body = b"%%%%" + length(len(info)) + b"".join(map(length, info)) + bytes(800)
    tag = struct.pack(">bh", 21, 4) + b"Data"
    tag += (struct.pack(">q", len(body)) if version == 4 else b"") + body
    root = struct.pack(">bb", 0, 1) + length(1) + tag
    header = struct.pack(">i", version) + length(len(root) + 8) + struct.pack(">i", 1)
    return _write(path, header + root + bytes(8))


# --------------------------------------------------------------------- paths


def missing_file(t):
    return lambda: read_spectra(t / "absent.csv")


def directory_instead_of_file(t):
    os.mkdir(t / "folder.csv")
    return lambda: read_spectra(t / "folder.csv")


def unknown_extension(t):
    return _rows(t, "data.xyz", "1 2 3\n")


def no_extension(t):
    return _rows(t, "data", "1 2 3\n")


def empty_csv_file(t):
    return _rows(t, "empty.csv", b"")


def empty_npy_file(t):
    return _rows(t, "empty.npy", b"", energy=(0.0, 1.0))


def empty_msa_file(t):
    pytest.importorskip("rsciio")
    return _rows(t, "empty.msa", b"")


def unknown_layout(t):
    return _rows(t, "ok.txt", "1 2 3\n", layout="diagonal")


# --------------------------------------------------------------------- text


def whitespace_only_text(t):
    return _rows(t, "blank.txt", "\n  \n\t\n")


def comments_only_text(t):
    return _rows(t, "comments.txt", "# only comments\n\n")


def header_only_csv(t):
    return _rows(t, "header.csv", "energy,counts\n")


def two_header_lines(t):
    return _rows(t, "two_headers.csv", "Energy,Counts\neV,counts\n0,1\n1,2\n2,3\n")


def non_numeric_cell(t):
    return _rows(t, "word.txt", "1 2 3\n4 five 6\n7 8 9\n", energy=(0.0, 1.0))


def empty_cell(t):
    return _rows(t, "hole.csv", "1,2,3\n4,,6\n7,8,9\n", energy=(0.0, 1.0))


def na_cell(t):
    return _rows(t, "na.csv", "1,2,3\n4,NA,6\n7,8,9\n", energy=(0.0, 1.0))


def nan_cell(t):
    return _rows(t, "nan.txt", "1.0 nan 3.0 4.0\n", energy=(0.0, 1.0))


def infinite_cell(t):
    return _rows(t, "inf.csv", "0,1\n1,inf\n2,3\n3,4\n")


def ragged_middle_row(t):
    return _rows(t, "ragged.csv", "1,2,3,4\n5,6\n7,8,9,10\n", energy=(0.0, 1.0))


def short_last_row(t):
    return _rows(t, "short.csv", "0,1,2\n1,3,4\n2,5\n")


def file_ends_mid_row(t):
    return _rows(t, "cut_row.csv", "0,1,2\n1,3,4\n2")


def file_ends_mid_number(t):
    return _rows(t, "cut_number.txt", "0 1\n1 2\n2 1.5e")


def file_ends_after_minus_sign(t):
    return _rows(t, "cut_sign.csv", "0,1\n1,2\n2,-")


def own_csv_cut_at_line_boundary(t):
    path, data = _own(t, "own.csv")
    _write(path, _cut_lines(data, 3))
    return lambda: read_spectra(path)


def own_csv_cut_inside_last_value(t):
    path, data = _own(t, "own_mid.csv")
    _write(path, data[:-3])
    return lambda: read_spectra(path)


def own_txt_with_extra_line(t):
    path, data = _own(t, "extra.txt")
    _write(path, data + b"5.5\t1\t1\t1\t1\t1\t1\n")
    return lambda: read_spectra(path)


def declared_spectra_missing(t):
    content = "# n_spectra: 3\n0,1,2\n1,3,4\n2,5,6\n3,7,8\n"
    return _rows(t, "spectra.csv", content)


def declared_channels_not_a_number(t):
    return _rows(t, "declared.csv", "# n_channels: forty\n0,1\n1,2\n2,3\n")


def navigation_shape_disagrees(t):
    content = "# navigation_shape: (2, 2)\n0,1,2,3\n1,4,5,6\n2,7,8,9\n3,1,1,1\n4,2,2,2\n"
    return _rows(t, "nav.csv", content)


def navigation_shape_not_a_tuple(t):
    return _rows(t, "nav_bad.csv", "# navigation_shape: two by three\n0,1\n1,2\n2,3\n")


def beam_energy_comment_not_a_number(t):
    return _rows(t, "beam.csv", "# beam_energy_keV: high\n0,1\n1,2\n2,3\n")


def headerless_kev_energy_column(t):
    """a two-column file without a header whose energy column is in keV"""
    energy = 0.025 * np.arange(-40, 200)
    counts = 1e4 * np.exp(-0.5 * (energy / 0.13) ** 2) + 10.0
    lines = "".join(f"{e / 1e3:.8g} {c:.8g}\n" for e, c in zip(energy, counts, strict=True))
    return _rows(t, "kev.txt", lines)


def energy_unit_disagrees_with_header(t):
    """energy_unit='eV' for a column headed energy_keV"""
    return _rows(
        t, "kev_header.csv", "energy_keV,a\n-0.001,1\n0,5\n0.001,2\n", energy_unit="eV"
    )


def mixed_tabs_and_commas(t):
    return _rows(t, "mixed.csv", "0,1,2\n1\t3\t4\n2,5,6\n3,7,8\n")


def mixed_spaces_and_commas(t):
    return _rows(t, "mixed_space.csv", "0,1,2\n1 3 4\n2,5,6\n3,7,8\n")


def binary_data_in_txt(t):
    np.save(t / "binary.npy", SPECTRA)
    return _rows(t, "binary.txt", (t / "binary.npy").read_bytes())


def utf16_text(t):
    return _rows(t, "utf16.csv", "0,1\n1,2\n2,3\n".encode("utf-16"))


def energy_column_in_nm(t):
    return _rows(t, "nm.csv", "Wavelength (nm),Counts\n400,1\n500,2\n600,3\n")


def energy_column_in_seconds(t):
    return _rows(t, "time.csv", "time_s,counts\n0,1\n1,2\n2,3\n")


def energy_column_of_channels(t):
    return _rows(t, "channels.csv", "Channel,Counts\n0,1\n1,2\n2,3\n")


def decreasing_energy_column(t):
    return _rows(t, "decreasing.txt", "5 1\n4 1\n3 1\n2 1\n", layout="columns")


def repeated_energy_value(t):
    return _rows(t, "repeated.txt", "0 1\n1 1\n1 1\n2 1\n", layout="columns")


def single_column_as_columns_layout(t):
    return _rows(t, "column.txt", "1\n2\n3\n", layout="columns")


def rows_file_without_energy(t):
    return _rows(t, "rows.txt", "1 2 3 4\n")


def energy_of_wrong_length(t):
    return _rows(t, "rows5.txt", "1 2 3 4 5\n", energy=np.arange(4.0))


def energy_pair_as_list(t):
    return _rows(t, "rows_pair.txt", "1 2 3 4 5\n", energy=[0.0, 0.1])


def energy_negative_dispersion(t):
    return _rows(t, "rows_neg.txt", "1 2 3 4 5\n", energy=(0.0, -0.1))


def energy_tuple_not_numbers(t):
    return _rows(t, "rows_str.txt", "1 2 3 4 5\n", energy=("zero", "tenth"))


def energy_with_nan(t):
    return _rows(t, "rows_nan.txt", "1 2 3\n", energy=[0.0, np.nan, 1.0])


# --------------------------------------------------------------------- NumPy


def garbage_npy(t):
    return _rows(t, "garbage.npy", b"this is not a numpy file at all", energy=(0, 1))


def pickle_named_npy(t):
    return _rows(t, "pickle.npy", pickle.dumps([1.0, 2.0, 3.0]), energy=(0, 1))


def object_array_npy(t):
    trap = np.empty(2, dtype=object)
    trap[:] = [_Trap(t / "unpickled"), 1.0]
    np.save(t / "objects.npy", trap, allow_pickle=True)
    return lambda: read_spectra(t / "objects.npy", energy=(0.0, 1.0))


def npz_named_npy(t):
    np.savez(t / "archive.npz", spectra=SPECTRA)
    os.rename(t / "archive.npz", t / "archive.npy")
    return lambda: read_spectra(t / "archive.npy", energy=(0.0, 1.0))


def truncated_npy(t):
    np.save(t / "cut.npy", SPECTRA)
    data = (t / "cut.npy").read_bytes()
    return _rows(t, "cut.npy", data[: len(data) // 2], energy=(0.0, 1.0))


def npy_cut_inside_signature(t):
    return _rows(t, "sig.npy", b"\x93NU", energy=(0.0, 1.0))


def npy_cut_inside_header(t):
    np.save(t / "head.npy", SPECTRA)
    return _rows(t, "head.npy", (t / "head.npy").read_bytes()[:20], energy=(0.0, 1.0))


def complex_npy(t):
    np.save(t / "complex.npy", SPECTRA + 1j)
    return lambda: read_spectra(t / "complex.npy", energy=(0.0, 1.0))


def boolean_npy(t):
    np.save(t / "bool.npy", SPECTRA > 2)
    return lambda: read_spectra(t / "bool.npy", energy=(0.0, 1.0))


def text_npy(t):
    np.save(t / "text.npy", np.array(["1.0", "2.0"]))
    return lambda: read_spectra(t / "text.npy", energy=(0.0, 1.0))


def structured_npy(t):
    np.save(t / "record.npy", np.zeros(3, dtype=[("e", "f8"), ("i", "f8")]))
    return lambda: read_spectra(t / "record.npy", energy=(0.0, 1.0))


def scalar_npy(t):
    np.save(t / "scalar.npy", np.float64(3.0))
    return lambda: read_spectra(t / "scalar.npy", energy=(0.0, 1.0))


def zero_channel_npy(t):
    np.save(t / "nothing.npy", np.zeros((0, 5)))
    return lambda: read_spectra(t / "nothing.npy", energy=(0.0, 1.0))


def nan_npy(t):
    np.save(t / "inf.npy", np.array([1.0, np.inf, 2.0]))
    return lambda: read_spectra(t / "inf.npy", energy=(0.0, 1.0))


def npy_without_energy(t):
    np.save(t / "axisless.npy", SPECTRA)
    return lambda: read_spectra(t / "axisless.npy")


def garbage_npz(t):
    return _rows(t, "garbage.npz", b"this is not a zip archive")


def npy_named_npz(t):
    np.save(t / "single.npy", SPECTRA)
    os.rename(t / "single.npy", t / "single.npz")
    return lambda: read_spectra(t / "single.npz")


def truncated_npz(t):
    path, data = _own(t, "cut.npz")
    _write(path, data[: len(data) - 30])
    return lambda: read_spectra(path)


def npz_with_damaged_array(t):
    np.savez(t / "crc.npz", spectra=SPECTRA, energy=ENERGY)  # stored, not deflated
    data = bytearray((t / "crc.npz").read_bytes())
    data[200] ^= 0xFF  # inside the spectra's bytes
    return _rows(t, "crc.npz", bytes(data))


def npz_with_object_array(t):
    notes = np.array([{"operator": "me"}], dtype=object)
    np.savez(t / "objects.npz", spectra=SPECTRA, energy=ENERGY, notes=notes)
    return lambda: read_spectra(t / "objects.npz")


def npz_without_spectra(t):
    np.savez(t / "counts.npz", counts=SPECTRA, energy=ENERGY)
    return lambda: read_spectra(t / "counts.npz")


def npz_without_energy(t):
    np.savez(t / "no_energy.npz", spectra=SPECTRA)
    return lambda: read_spectra(t / "no_energy.npz")


def npz_energy_wrong_length(t):
    np.savez(t / "short_axis.npz", spectra=SPECTRA, energy=ENERGY[:-1])
    return lambda: read_spectra(t / "short_axis.npz")


def npz_beam_energy_not_scalar(t):
    np.savez(t / "beam.npz", spectra=SPECTRA, energy=ENERGY, beam_energy=[200, 300])
    return lambda: read_spectra(t / "beam.npz")


# --------------------------------------------------------------------- MSA


def msa_cut_inside_data(t):
    path, data = _msa(t, "cut_data.msa")
    _write(path, data[: data.index(b"#ENDOFDATA") - 30])
    return lambda: read_spectra(path)


def msa_cut_before_endofdata(t):
    path, data = _msa(t, "no_end.msa")
    _write(path, data[: data.index(b"#ENDOFDATA")])
    return lambda: read_spectra(path)


def msa_cut_inside_header(t):
    path, data = _msa(t, "header.msa")
    _write(path, data[: data.index(b"#SPECTRUM")])
    return lambda: read_spectra(path)


def msa_fewer_points_than_npoints(t):
    path, data = _msa(t, "npoints.msa")
    start = data.index(b"#SPECTRUM")
    first_value = data.index(b"\n", start) + 1
    second_value = data.index(b"\n", first_value) + 1
    _write(path, data[:first_value] + data[second_value:])  # one value removed
    return lambda: read_spectra(path)


def msa_axis_in_nm(t):
    path, data = _msa(t, "nm.msa")
    _write(path, data.replace(b"#XUNITS      : eV", b"#XUNITS      : nm"))
    return lambda: read_spectra(path)


# --------------------------------------------------------------------- DM, HDF5


def dm3_truncated(t):
    pytest.importorskip("rsciio")
    path = _dm(t / "cut.dm3")
    return _rows(t, "cut.dm3", path.read_bytes()[:500])


def dm4_truncated(t):
    pytest.importorskip("rsciio")
    path = _dm(t / "cut.dm4", version=4)
    return _rows(t, "cut.dm4", path.read_bytes()[:500])


def dm3_cut_inside_header(t):
    pytest.importorskip("rsciio")
    return _rows(t, "header.dm3", struct.pack(">i", 3) + b"\0\0")


def dm3_of_another_format(t):
    pytest.importorskip("rsciio")
    return _rows(t, "text.dm3", b"0 1\n1 2\n2 3\n")


def hspy_truncated(t):
    pytest.importorskip("rsciio")
    path, data = _own(t, "cut.hspy")
    _write(path, data[: len(data) // 2])
    return lambda: read_spectra(path)


def emd_truncated(t):
    emd = pytest.importorskip("rsciio.emd")
    axis = {"name": "E", "size": 40, "offset": -1.0, "scale": 0.15, "units": "eV"}
    signal = {
        "data": SPECTRA[0],
        "axes": [
            {
                "name": "x",
                "size": 3,
                "offset": 0.0,
                "scale": 1.0,
                "units": "nm",
                "navigate": True,
            },
            {**axis, "navigate": False},
        ],
        "metadata": {"General": {"title": ""}, "Signal": {"signal_type": ""}},
        "original_metadata": {},
    }
    emd.file_writer(str(t / "cut.emd"), signal)
    data = (t / "cut.emd").read_bytes()
    return _rows(t, "cut.emd", data[: len(data) * 3 // 4])


def hspy_of_another_format(t):
    pytest.importorskip("rsciio")
    return _rows(t, "junk.hspy", b"not an hdf5 file")


def hspy_image_not_spectra(t):
    hspy = pytest.importorskip("rsciio.hspy")
    axes = [
        {"name": n, "size": 4, "offset": 0.0, "scale": 1.0, "units": "nm"}
        for n in ("y", "x")
    ]
    signal = {
        "data": np.ones((4, 4)),
        "axes": [{**a, "navigate": False} for a in axes],
        "metadata": {"General": {"title": ""}, "Signal": {"signal_type": ""}},
        "original_metadata": {},
        "tmp_parameters": {},
        "attributes": {"_lazy": False},
        "learning_results": {},
        "models": {},
        "package_info": {"package": "", "package_version": ""},
    }
    hspy.file_writer(str(t / "image.hspy"), signal, show_progressbar=False)
    return lambda: read_spectra(t / "image.hspy")


def signal_index_out_of_range(t):
    pytest.importorskip("rsciio")
    path, _ = _own(t, "one.hspy")
    return lambda: read_spectra(path, signal_index=3)


# --------------------------------------------------------------------- writing


def write_complex_spectra(t):
    return lambda: write_spectra(t / "c.csv", SPECTRA + 1j, ENERGY)


def write_boolean_spectra(t):
    return lambda: write_spectra(t / "b.csv", SPECTRA > 2, ENERGY)


def write_text_spectra(t):
    return lambda: write_spectra(t / "s.csv", [["1", "x", "3"]], [0.0, 1.0, 2.0])


def write_ragged_list(t):
    return lambda: write_spectra(t / "r.csv", [[1.0, 2.0], [3.0]], [0.0, 1.0])


def write_nan_spectra(t):
    return lambda: write_spectra(
        t / "n.csv", np.where(SPECTRA > 6, np.nan, SPECTRA), ENERGY
    )


def write_empty_spectra(t):
    return lambda: write_spectra(t / "e.csv", np.zeros((0, 40)), ENERGY)


def write_complex_energy(t):
    return lambda: write_spectra(t / "ce.csv", SPECTRA, ENERGY + 0j)


def write_decreasing_energy(t):
    return lambda: write_spectra(t / "d.csv", SPECTRA, ENERGY[::-1])


def write_energy_wrong_length(t):
    return lambda: write_spectra(t / "w.npz", SPECTRA, ENERGY[:-1])


def write_without_energy(t):
    return lambda: write_spectra(t / "no_axis.npz", SPECTRA, None)


def write_unknown_extension(t):
    return lambda: write_spectra(t / "x.xyz", SPECTRA, ENERGY)


def write_dm3(t):
    return lambda: write_spectra(t / "x.dm3", SPECTRA, ENERGY)


def write_npy(t):
    return lambda: write_spectra(t / "x.npy", SPECTRA, ENERGY)


def write_to_a_directory(t):
    os.mkdir(t / "out.csv")
    return lambda: write_spectra(t / "out.csv", SPECTRA, ENERGY)


def write_into_a_missing_folder(t):
    return lambda: write_spectra(t / "absent" / "out.csv", SPECTRA, ENERGY)


def write_metadata_not_a_dict(t):
    return lambda: write_spectra(t / "m.npz", SPECTRA, ENERGY, [("beam_energy", 200)])


def write_beam_energy_not_a_number(t):
    return lambda: write_spectra(t / "m.npz", SPECTRA, ENERGY, {"beam_energy": "high"})


def write_navigation_shape_disagrees(t):
    return lambda: write_spectra(t / "m.npz", SPECTRA, ENERGY, {"navigation_shape": (4, 2)})


def write_navigation_shape_not_integers(t):
    md = {"navigation_shape": "two by three"}
    return lambda: write_spectra(t / "m.npz", SPECTRA, ENERGY, md)


def write_several_spectra_to_msa(t):
    pytest.importorskip("rsciio")
    return lambda: write_spectra(t / "many.msa", SPECTRA, ENERGY)


def write_non_uniform_axis_to_msa(t):
    pytest.importorskip("rsciio")
    return lambda: write_spectra(t / "nu.msa", [1.0, 2.0, 3.0], [0.0, 1.0, 3.0])


# --------------------------------------------------------------------- HyperSpy


def _signal(data, units="eV"):
    hs = pytest.importorskip("hyperspy.api")
    signal = hs.signals.Signal1D(data)
    signal.axes_manager.signal_axes[0].units = units
    return signal


def to_hyperspy_complex(t):
    pytest.importorskip("hyperspy.api")
    return lambda: to_hyperspy(SPECTRA + 1j, ENERGY)


def to_hyperspy_boolean(t):
    pytest.importorskip("hyperspy.api")
    return lambda: to_hyperspy(SPECTRA > 2, ENERGY)


def from_hyperspy_not_a_signal(t):
    pytest.importorskip("hyperspy.api")
    return lambda: from_hyperspy(SPECTRA)


def from_hyperspy_image(t):
    hs = pytest.importorskip("hyperspy.api")
    return lambda: from_hyperspy(hs.signals.Signal2D(np.ones((4, 4))))


def from_hyperspy_complex(t):
    signal = _signal(SPECTRA + 1j)
    return lambda: from_hyperspy(signal)


def from_hyperspy_boolean(t):
    signal = _signal(SPECTRA > 2)
    return lambda: from_hyperspy(signal)


def from_hyperspy_nan(t):
    signal = _signal(np.where(SPECTRA > 6, np.nan, SPECTRA))
    return lambda: from_hyperspy(signal)


def from_hyperspy_axis_in_nm(t):
    signal = _signal(SPECTRA, units="nm")
    return lambda: from_hyperspy(signal)


# id -> (case, exception, message regex)

# -- model files (sklearn_zlp.load_model) ---------------------------------------------


def _model_file(tmp_path):
    """A fitted ZeroLossAligner saved as a model file, and its bytes."""
    from sklearn_zlp import ZeroLossAligner

    path = (
        ZeroLossAligner(energy_axis=ENERGY)
        .fit(SPECTRA.reshape(-1, 40))
        .save(tmp_path / "aligner.zlp")
    )
    return Path(path), Path(path).read_bytes()


def _rezip(path, target, edit):
    import json
    import zipfile

    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    manifest = json.loads(members["manifest.json"])
    edit(manifest)
    members["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return target


def model_file_that_is_a_pickle(tmp_path):
    from sklearn_zlp import load_model

    path = _write(tmp_path / "model.zlp", pickle.dumps({"weights": [1.0]}))
    return lambda: load_model(path)


def model_file_with_a_flipped_byte(tmp_path):
    from sklearn_zlp import load_model

    path, raw = _model_file(tmp_path)
    raw = bytearray(raw)
    raw[len(raw) // 3] ^= 0x01
    bad = _write(tmp_path / "flipped.zlp", bytes(raw))
    return lambda: load_model(bad)


def model_file_naming_an_unknown_class(tmp_path):
    from sklearn_zlp import load_model

    path, _ = _model_file(tmp_path)
    bad = _rezip(path, tmp_path / "os.zlp", lambda m: m.update({"class": "os.system"}))
    return lambda: load_model(bad)


def model_file_from_a_newer_format(tmp_path):
    from sklearn_zlp import load_model

    path, _ = _model_file(tmp_path)
    bad = _rezip(path, tmp_path / "new.zlp", lambda m: m.update({"format_version": 99}))
    return lambda: load_model(bad)


def model_file_of_another_class_than_expected(tmp_path):
    from sklearn_zlp import ZLPSubtractor, load_model

    path, _ = _model_file(tmp_path)
    return lambda: load_model(path, expected=ZLPSubtractor)


CASES = {
    missing_file: (FileNotFoundError, r"No such file: '.*absent\.csv'.*check the path"),
    directory_instead_of_file: (
        IsADirectoryError,
        r"'.*folder\.csv' is a directory, not a file; pass the path of a file",
    ),
    unknown_extension: (ValueError, r"data\.xyz'.*unknown extension '\.xyz'.*Supported"),
    no_extension: (ValueError, r"unknown extension '\(none\)'"),
    empty_csv_file: (ValueError, r"'.*empty\.csv' is empty \(0 bytes\).*copy or export"),
    empty_npy_file: (ValueError, r"'.*empty\.npy' is empty \(0 bytes\)"),
    empty_msa_file: (ValueError, r"'.*empty\.msa' is empty \(0 bytes\)"),
    unknown_layout: (ValueError, r"layout='diagonal' is not supported"),
    whitespace_only_text: (
        ValueError,
        r"blank\.txt' holds only blank lines and no numeric",
    ),
    comments_only_text: (ValueError, r"comments\.txt' holds only '#' comment lines"),
    header_only_csv: (
        ValueError,
        r"header\.csv' holds a header line \(energy, counts\) but no numeric data",
    ),
    two_header_lines: (
        ValueError,
        r"two_headers\.csv': line 2 is not numeric: column 1 holds 'eV'.*one header line",
    ),
    non_numeric_cell: (
        ValueError,
        r"word\.txt': line 2 is not numeric: column 2 holds 'five', not a number",
    ),
    empty_cell: (ValueError, r"hole\.csv': line 2 .*column 2 holds no value.*missing"),
    na_cell: (ValueError, r"na\.csv': line 2 .*column 2 holds no value \('NA'"),
    nan_cell: (ValueError, r"nan\.txt' contains 1 NaN or infinite.*channel 1.*interpolate"),
    infinite_cell: (ValueError, r"inf\.csv' contains 1 NaN or infinite"),
    ragged_middle_row: (ValueError, r"ragged\.csv': line 2 has 2 values but line 1 has 4"),
    short_last_row: (
        ValueError,
        r"short\.csv' looks truncated: its last line \(line 3\) holds 2 values but the "
        r"lines before it hold 3",
    ),
    file_ends_mid_row: (
        ValueError,
        r"cut_row\.csv' ends in the middle of line 3 \(it holds 1 of the 3 values.*truncated",
    ),
    file_ends_mid_number: (
        ValueError,
        r"cut_number\.txt' ends in the middle of line 3 \(its last value '1\.5e' is cut off",
    ),
    file_ends_after_minus_sign: (
        ValueError,
        r"cut_sign\.csv' ends in the middle of line 3",
    ),
    own_csv_cut_at_line_boundary: (
        ValueError,
        r"own\.csv' holds 37 of the 40 channels its '# n_channels: 40' line declares: "
        r"the file is truncated",
    ),
    own_csv_cut_inside_last_value: (
        ValueError,
        r"own_mid\.csv' ends in the middle of line \d+ \(no line break.*truncated",
    ),
    own_txt_with_extra_line: (
        ValueError,
        r"extra\.txt' holds 41 channels but its '# n_channels: 40' line declares 40",
    ),
    declared_spectra_missing: (
        ValueError,
        r"spectra\.csv' holds 2 of the 3 spectra its '# n_spectra: 3' line declares",
    ),
    declared_channels_not_a_number: (
        ValueError,
        r"declared\.csv': comment line '# n_channels: forty' should hold a whole number",
    ),
    navigation_shape_disagrees: (
        ValueError,
        r"nav\.csv' declares navigation_shape \(2, 2\), which holds 4 spectra, but the "
        r"file has 3",
    ),
    navigation_shape_not_a_tuple: (
        ValueError,
        r"nav_bad\.csv'.*should hold a tuple of integers",
    ),
    beam_energy_comment_not_a_number: (
        ValueError,
        r"beam\.csv': comment line '# beam_energy_keV: high' should hold a number",
    ),
    headerless_kev_energy_column: (
        ValueError,
        r"kev\.txt' states no unit and is read as eV, but it looks like keV: its "
        r"channels are 2\.5e-05 eV apart.*energy_unit='keV'",
    ),
    energy_unit_disagrees_with_header: (
        ValueError,
        r"headed 'energy_keV', which states its unit, but energy_unit says 'eV'",
    ),
    mixed_tabs_and_commas: (
        ValueError,
        r"mixed\.csv': line 2 is separated by tabs but line 1 by commas; use one",
    ),
    mixed_spaces_and_commas: (
        ValueError,
        r"mixed_space\.csv': line 2 is separated by spaces but line 1 by commas",
    ),
    binary_data_in_txt: (ValueError, r"binary\.txt' is not a text file: it holds binary"),
    utf16_text: (ValueError, r"utf16\.csv' is not a text file.*UTF-16.*UTF-8"),
    energy_column_in_nm: (
        ValueError,
        r"first column of '.*nm\.csv' is headed 'Wavelength \(nm\)', a wavelength, in "
        r"'nm', not an "
        r"energy loss in eV",
    ),
    energy_column_in_seconds: (
        ValueError,
        r"time\.csv' is headed 'time_s', a time, in 's', not an energy loss",
    ),
    energy_column_of_channels: (
        ValueError,
        r"channels\.csv' is headed 'Channel', a channel, not an energy loss.*energy=",
    ),
    decreasing_energy_column: (
        ValueError,
        r"energy axis \(first column\) of '.*decreasing\.txt' must be strictly increasing",
    ),
    repeated_energy_value: (
        ValueError,
        r"repeated\.txt' must be strictly increasing, but channel 2",
    ),
    single_column_as_columns_layout: (
        ValueError,
        r"column\.txt' has a single column.*layout='rows'",
    ),
    rows_file_without_energy: (
        ValueError,
        r"rows\.txt' holds spectra of 4 channels but no energy axis.*energy=\(offset",
    ),
    energy_of_wrong_length: (
        ValueError,
        r"rows5\.txt' has 4 channels but the spectra have 5",
    ),
    energy_pair_as_list: (ValueError, r"rows_pair\.txt' has 2 values .*pass a tuple"),
    energy_negative_dispersion: (
        ValueError,
        r"rows_neg\.txt' is \(offset, dispersion\).*positive",
    ),
    energy_tuple_not_numbers: (ValueError, r"rows_str\.txt' is a tuple.*are not numbers"),
    energy_with_nan: (ValueError, r"rows_nan\.txt' contains NaN or infinite values"),
    garbage_npy: (
        ValueError,
        r"garbage\.npy' is not a valid \.npy file: it does not start with the NumPy "
        r"signature.*never loads Python objects",
    ),
    pickle_named_npy: (ValueError, r"pickle\.npy' is not a valid \.npy file"),
    object_array_npy: (
        ValueError,
        r"objects\.npy' holds Python objects \(dtype object\), not numbers; read_spectra "
        r"never loads",
    ),
    npz_named_npy: (ValueError, r"archive\.npy' is not a valid \.npy file: it is a zip"),
    truncated_npy: (
        ValueError,
        r"cut\.npy' is truncated: its header declares an array of shape \(2, 3, 40\)",
    ),
    npy_cut_inside_signature: (ValueError, r"sig\.npy'.*ends inside the NumPy signature"),
    npy_cut_inside_header: (
        ValueError,
        r"head\.npy' is not a valid \.npy file: its header",
    ),
    complex_npy: (ValueError, r"complex\.npy' \(dtype complex128\) holds complex numbers"),
    boolean_npy: (ValueError, r"bool\.npy' \(dtype bool\) holds booleans"),
    text_npy: (ValueError, r"text\.npy' \(dtype <U3\) holds text"),
    structured_npy: (ValueError, r"record\.npy' .*holds a structured \(record\) array"),
    scalar_npy: (ValueError, r"scalar\.npy' is a single number"),
    zero_channel_npy: (ValueError, r"nothing\.npy' is empty \(shape \(0, 5\)\)"),
    nan_npy: (ValueError, r"inf\.npy' contains 1 NaN or infinite"),
    npy_without_energy: (ValueError, r"axisless\.npy' holds spectra of 40 channels but no"),
    garbage_npz: (
        ValueError,
        r"garbage\.npz' is not a valid \.npz archive: it does not start with the zip",
    ),
    npy_named_npz: (ValueError, r"single\.npz' is not a valid \.npz archive: .*\.npy"),
    truncated_npz: (
        ValueError,
        r"cut\.npz' is not a complete \.npz archive: its table of contents.*truncated",
    ),
    npz_with_damaged_array: (
        ValueError,
        r"crc\.npz' is not a complete \.npz archive: the array 'spectra' is damaged",
    ),
    npz_with_object_array: (
        ValueError,
        r"array 'notes' in '.*objects\.npz' holds Python objects.*never loads",
    ),
    npz_without_spectra: (ValueError, r"counts\.npz' holds the arrays.*neither 'spectra'"),
    npz_without_energy: (
        ValueError,
        r"no_energy\.npz' holds spectra of 40 channels but no",
    ),
    npz_energy_wrong_length: (
        ValueError,
        r"'energy' array of '.*short_axis\.npz' has 39 channels but the spectra have 40",
    ),
    npz_beam_energy_not_scalar: (
        ValueError,
        r"beam\.npz': 'beam_energy' should be a single number",
    ),
    msa_cut_inside_data: (
        ValueError,
        r"cut_data\.msa' ends without the '#ENDOFDATA' line.*it is truncated",
    ),
    msa_cut_before_endofdata: (
        ValueError,
        r"no_end\.msa' ends without the '#ENDOFDATA' line.*its 40 values end at line",
    ),
    msa_cut_inside_header: (
        ValueError,
        r"header\.msa' has no '#SPECTRUM' line, so no data",
    ),
    msa_fewer_points_than_npoints: (
        ValueError,
        r"npoints\.msa' declares '#NPOINTS: 40' but its data section holds 39 points "
        r"\(Y data, #NCOLUMNS: 1, so 1 per line\)",
    ),
    msa_axis_in_nm: (ValueError, r"nm\.msa' has units 'nm', not an energy.*energy="),
    dm3_truncated: (
        ValueError,
        r"cut\.dm3' is truncated: its DM3 header declares \d+ bytes of tags but the file",
    ),
    dm4_truncated: (ValueError, r"cut\.dm4' is truncated: its DM4 header declares"),
    dm3_cut_inside_header: (
        ValueError,
        r"header\.dm3' is truncated: it ends inside its DM3",
    ),
    dm3_of_another_format: (
        ValueError,
        r"text\.dm3' is not a Digital Micrograph file: DM3/DM4 files start with the "
        r"version number 3 or 4",
    ),
    hspy_truncated: (
        ValueError,
        r"cut\.hspy' is truncated: it holds \d+ bytes but its HDF5 header says \d+",
    ),
    emd_truncated: (ValueError, r"cut\.emd' is truncated: it holds \d+ bytes but its HDF5"),
    hspy_of_another_format: (
        ValueError,
        r"junk\.hspy' is not a hspy file: hspy files are HDF5 files",
    ),
    hspy_image_not_spectra: (
        ValueError,
        r"image\.hspy' is not a set of 1-D spectra: it has 2 signal axes",
    ),
    signal_index_out_of_range: (
        ValueError,
        r"signal_index=3 is out of range: '.*one\.hspy' holds 1 signal",
    ),
    write_complex_spectra: (ValueError, r"spectra holds complex numbers.*\.real"),
    write_boolean_spectra: (ValueError, r"spectra is boolean.*astype\(float\)"),
    write_text_spectra: (ValueError, r"spectra must contain only real numbers"),
    write_ragged_list: (
        ValueError,
        r"spectra must be an array of real numbers.*equal-length",
    ),
    write_nan_spectra: (ValueError, r"spectra contains \d+ NaN or infinite values"),
    write_empty_spectra: (ValueError, r"spectra is empty \(shape \(0, 40\)\)"),
    write_complex_energy: (ValueError, r"energy holds complex numbers"),
    write_decreasing_energy: (ValueError, r"energy must be strictly increasing"),
    write_energy_wrong_length: (
        ValueError,
        r"energy has 39 channels but the spectra have 40",
    ),
    write_without_energy: (ValueError, r"energy is None; pass the energy loss"),
    write_unknown_extension: (ValueError, r"Cannot write '.*x\.xyz': extension '\.xyz'"),
    write_dm3: (ValueError, r"'\.dm3' is not supported.*cannot be written"),
    write_npy: (ValueError, r"\.npy file cannot hold the energy axis; use \.npz"),
    write_to_a_directory: (
        IsADirectoryError,
        r"Cannot write '.*out\.csv': it is a directory; pass the path of a file",
    ),
    write_into_a_missing_folder: (
        FileNotFoundError,
        r"Cannot write '.*out\.csv': the folder '.*absent' does not exist; create it",
    ),
    write_metadata_not_a_dict: (ValueError, r"metadata must be a dict.*got list"),
    write_beam_energy_not_a_number: (
        ValueError,
        r"metadata\['beam_energy'\] must be a finite number or None, got 'high'",
    ),
    write_navigation_shape_disagrees: (
        ValueError,
        r"navigation_shape'\] = \(4, 2\) holds 8 spectra but spectra has 6",
    ),
    write_navigation_shape_not_integers: (
        ValueError,
        r"navigation_shape'\] must be a tuple of integers",
    ),
    write_several_spectra_to_msa: (ValueError, r"MSA file holds one spectrum, got 6"),
    write_non_uniform_axis_to_msa: (ValueError, r"MSA file stores a uniform energy axis"),
    to_hyperspy_complex: (ValueError, r"spectra holds complex numbers"),
    to_hyperspy_boolean: (ValueError, r"spectra is boolean"),
    from_hyperspy_not_a_signal: (TypeError, r"expects a HyperSpy signal, got ndarray"),
    from_hyperspy_image: (ValueError, r"2 signal dimensions.*as_signal1D"),
    from_hyperspy_complex: (
        ValueError,
        r"data of type complex128, not real intensities; EEL intensities are real.*"
        r"signal\.real",
    ),
    from_hyperspy_boolean: (
        ValueError,
        r"data of type bool, not real intensities; .*astype\(float\)",
    ),
    from_hyperspy_nan: (
        ValueError,
        r"the signal contains \d+ NaN or infinite intensities .*replace them in "
        r"signal\.data",
    ),
    from_hyperspy_axis_in_nm: (
        ValueError,
        r"energy axis of the signal has units 'nm', not an energy.*units = 'eV'",
    ),
    model_file_that_is_a_pickle: (ValueError, r"not a sklearn-zlp model file"),
    model_file_with_a_flipped_byte: (ValueError, r"tampered or damaged"),
    model_file_naming_an_unknown_class: (ValueError, r"names the class 'os.system'"),
    model_file_from_a_newer_format: (ValueError, r"newer sklearn-zlp .*upgrade"),
    model_file_of_another_class_than_expected: (
        TypeError,
        r"ZeroLossAligner.*ZLPSubtractor|ZLPSubtractor.*ZeroLossAligner",
    ),
}


@pytest.mark.parametrize(
    ("case", "error", "match"),
    [pytest.param(case, *expected, id=case.__name__) for case, expected in CASES.items()],
)
def test_bad_input_gets_a_clear_error(tmp_path, case, error, match):
    call = case(tmp_path)
    with pytest.raises(error, match=match) as info:
        call()
    message = str(info.value)
    assert "allow_pickle" not in message and "pickle.load" not in message
    assert not (tmp_path / "unpickled").exists()  # no pickle was ever loaded


def test_every_case_is_in_the_table():
    defined = {
        name
        for name, value in globals().items()
        if callable(value)
        and getattr(value, "__module__", None) == __name__
        and not name.startswith(("_", "test_"))
    }
    assert defined == {case.__name__ for case in CASES}
