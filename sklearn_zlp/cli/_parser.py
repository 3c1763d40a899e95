"""The argument parser of ``sklearn-zlp``: argparse only, so ``--help`` stays fast.

Nothing here imports numpy, scikit-learn, torch or matplotlib: building the parser
and printing help must cost a fraction of a second, and each subcommand imports
what it needs only when it runs.
"""

import argparse

from .. import __version__

_EPILOG = (
    "Files: .txt/.dat/.csv/.tsv, .npy/.npz, .msa/.ems, .dm3/.dm4, .hspy/.hdf5, .emd, "
    ".zspy (the last ones need 'pip install \"sklearn-zlp[io]\"'). Spectrum images and "
    "line scans are flattened to one spectrum per pixel. 'sklearn-zlp COMMAND --help' "
    "tells more."
)


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Defaults in the help, but only where a default says something."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error as one line (no usage block) that points to help."""

    def error(self, message):
        self.exit(
            2,
            f"sklearn-zlp: error: {message} (see '{self.prog} --help')\n",
        )


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
    return value


def _jobs(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a whole number (-1 for all cores)"
        ) from None
    if value == 0:
        raise argparse.ArgumentTypeError("0 jobs cannot run anything; use 1, 2, ... or -1")
    return value


def _energy_value(text):
    """A float in eV (finite)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (eV)") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number (eV)")
    return value


def _positive_energy(text):
    value = _energy_value(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive energy in eV")
    return value


def _exponent(text):
    if text in ("free", "direct", "indirect"):
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not 'free', 'direct' (0.5), 'indirect' (1.5) or a number"
        ) from None
    if not 0 < value < 10:
        raise argparse.ArgumentTypeError(f"onset exponent {text!r} must lie in (0, 10)")
    return value


def _add_files(parser, what):
    parser.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help=f"{what}: spectra, line scans or spectrum images",
    )
    parser.add_argument(
        "--energy",
        nargs=2,
        type=_energy_value,
        metavar=("OFFSET", "DISPERSION"),
        help="energy axis in eV of every file, for files without one (e.g. one "
        "column or row of counts; it replaces the axis of files that have one): "
        "channel i at OFFSET + DISPERSION * i",
    )
    parser.add_argument(
        "--energy-unit",
        choices=("eV", "keV", "meV"),
        help="unit of the energy column of text files whose header names none",
    )


def _add_job_options(parser):
    """Options of the commands that fit the ensemble and subtract."""
    parser.add_argument(
        "--vacuum",
        nargs="+",
        metavar="FILE",
        help="spectra recorded in vacuum on the same axis: they guide dE_I and the "
        "ZLP's tail through region II (give the specimen files first: every file "
        "after --vacuum is a vacuum spectrum)",
    )
    parser.add_argument(
        "-o", "--out", required=True, metavar="DIR", help="folder for the report and files"
    )
    group = parser.add_argument_group("ensemble and regions")
    group.add_argument(
        "--replicas",
        type=_positive_int,
        default=100,
        metavar="N",
        help="Monte Carlo replicas",
    )
    group.add_argument(
        "--epochs",
        type=_positive_int,
        default=3000,
        metavar="N",
        help="training epochs per replica",
    )
    group.add_argument(
        "--de1",
        type=_positive_energy,
        metavar="EV",
        help="end of region I in eV (default: estimated from the spectra)",
    )
    group.add_argument(
        "--de2",
        type=_positive_energy,
        metavar="EV",
        help="start of region III in eV (default: estimated from the spectra)",
    )
    group.add_argument(
        "--de1-method",
        choices=("auto", "derivative", "ratio", "curvature", "tail"),
        default="auto",
        help="how dE_I is estimated ('auto': ratio to the vacuum spectra if given, "
        "else curvature; see ZLPRegionMask)",
    )
    group.add_argument(
        "--training",
        choices=("auto", "spectra", "clusters"),
        default="auto",
        help="train on every spectrum, or on one random spectrum per thickness "
        "cluster per replica ('auto': clusters for a spectrum image)",
    )
    group.add_argument(
        "--zlp-search",
        nargs=2,
        type=_energy_value,
        metavar=("LO", "HI"),
        help="window in eV of the raw axis in which to look for every ZLP maximum",
    )
    group.add_argument(
        "--device", choices=("cpu", "cuda"), default="cpu", help="torch device"
    )
    group.add_argument(
        "--seed", type=int, default=0, metavar="N", help="random seed of the whole job"
    )
    group.add_argument(
        "--jobs",
        type=_jobs,
        default=-1,
        metavar="N",
        help="parallel training jobs (-1: all cores)",
    )
    _add_output_options(parser)


def _add_output_options(parser):
    group = parser.add_argument_group("output")
    group.add_argument(
        "--progress",
        choices=("auto", "bar", "lines", "none"),
        default="auto",
        help="progress display on stderr: a bar in a terminal, lines otherwise",
    )
    group.add_argument(
        "-q", "--quiet", action="store_true", help="no progress and no tables on stdout"
    )
    group.add_argument(
        "--debug", action="store_true", help="show the traceback of an error"
    )
    group.add_argument(
        "--keep-replicas",
        action="store_true",
        help="also write every replica of the ZLP and subtracted spectra to results.npz "
        "(1.6 MB per spectrum and kind at 100 replicas x 2048 channels)",
    )


def _add_band_gap_options(parser):
    group = parser.add_argument_group("band gap")
    group.add_argument(
        "--window",
        nargs=2,
        type=_energy_value,
        metavar=("LO", "HI"),
        help="fit window in eV (default: found per spectrum)",
    )
    group.add_argument(
        "--b",
        type=_exponent,
        default="free",
        metavar="{free,direct,indirect,NUMBER}",
        help="onset exponent: fitted, 0.5 (direct), 1.5 (indirect) or a number",
    )
    group.add_argument(
        "--background",
        choices=("constant", "linear", "none"),
        default="constant",
        help="pedestal under the onset",
    )


def build_parser():
    """The ``sklearn-zlp`` argument parser with every subcommand.

    Returns
    -------
    parser : argparse.ArgumentParser
    """
    parser = _Parser(
        prog="sklearn-zlp",
        description="Remove the zero-loss peak from EEL spectra with a replica "
        "ensemble of neural networks, and measure band gaps and t/lambda with "
        "68% bands.",
        epilog=_EPILOG,
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = sub.add_parser(
        "demo",
        help="run the main job on the bundled WS2 spectra",
        description="Align, fit, subtract the bundled WS2 spectra; write plots and tables.",
        formatter_class=_Formatter,
    )
    demo.add_argument("--output", default="demo_output", help="folder for plots and tables")
    demo.add_argument(
        "--replicas",
        type=_positive_int,
        default=100,
        metavar="N",
        help="Monte Carlo replicas",
    )
    demo.add_argument("--epochs", type=_positive_int, default=3000, help="training epochs")
    demo.add_argument("--debug", action="store_true", help="show the traceback of an error")

    for name, helptext, description in (
        (
            "subtract",
            "subtract the ZLP; write the subtracted spectra and a report",
            "Align the spectra, fit the ZLP ensemble on them, subtract it and write the "
            "subtracted spectra (medians and 68% bands) and an HTML report.",
        ),
        (
            "bandgap",
            "subtract, then fit the band-gap onset on every replica",
            "Subtract as 'subtract' does, fit A (E - E_bg)^b on every replica of every "
            "spectrum and print E_bg with its 68% band and status (maps for a "
            "spectrum image).",
        ),
        (
            "thickness",
            "subtract, then t/lambda with its band",
            "Subtract as 'subtract' does and print t/lambda = ln(I_total / I_ZLP) with "
            "its 68% band and status per spectrum (maps for a spectrum image).",
        ),
    ):
        command = sub.add_parser(
            name, help=helptext, description=description, formatter_class=_Formatter
        )
        _add_files(command, "specimen spectra")
        _add_job_options(command)
        if name == "bandgap":
            _add_band_gap_options(command)

    info = sub.add_parser(
        "info",
        help="say what a file holds (no fitting)",
        description="Format, shape, energy axis, metadata, ZLP position and width, "
        "counts and warnings of every file; fast, no neural networks.",
        formatter_class=_Formatter,
    )
    _add_files(info, "files to describe")
    info.add_argument("--debug", action="store_true", help="show the traceback of an error")
    return parser
