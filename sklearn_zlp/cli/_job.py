"""``subtract``, ``bandgap`` and ``thickness``: read, align, fit, subtract, report.

One pipeline for the three commands; they differ in the physics computed after
the subtraction and in the table printed. The numbers are those of the Python
API run with the same settings (the tests check it): the ensemble is
:func:`~sklearn_zlp.subtraction.default_regressor` with the replicas, epochs,
device and seed given, and the subtractor, aligner and region mask are built as
``sklearn_zlp/_demo.py`` builds them.
"""

import sys
from pathlib import Path

import numpy as np

from ._errors import UserError
from ._inputs import check_vacuum_compatible, describe_axis, read_inputs


def build_subtractor(
    energy,
    vacuum=None,
    *,
    n_replicas=100,
    max_epochs=3000,
    de1=None,
    de2=None,
    de1_method="auto",
    training="spectra",
    device="cpu",
    seed=0,
    n_jobs=-1,
):
    """The unfitted :class:`~sklearn_zlp.ZLPSubtractor` a command fits.

    Parameters
    ----------
    energy : ndarray of shape (n_channels,)
        The aligned axis.
    vacuum : ndarray of shape (n_vacuum, n_channels), default=None
        Aligned vacuum spectra for the region mask.
    n_replicas, max_epochs : int
        ``--replicas``, ``--epochs``.
    de1, de2 : float or None
        ``--de1``, ``--de2`` in eV (None: estimated).
    de1_method : str
        ``--de1-method``.
    training : {"spectra", "clusters"}
        ``clusters`` also estimates the regions per thickness cluster.
    device : str
    seed : int
        ``random_state`` of the ensemble and of the subtractor.
    n_jobs : int

    Returns
    -------
    subtractor : ZLPSubtractor
    """
    from ..preprocessing import ZLPRegionMask
    from ..subtraction import ZLPSubtractor, default_regressor

    regressor = default_regressor(random_state=seed, n_jobs=n_jobs).set_params(
        n_replicas=n_replicas, max_epochs=max_epochs, device=device
    )
    regions = ZLPRegionMask(
        de1="auto" if de1 is None else de1,
        de2="auto" if de2 is None else de2,
        de1_method=de1_method,
        vacuum=vacuum,
        per="cluster" if training == "clusters" else "all",
    )
    return ZLPSubtractor(
        energy_axis=energy,
        regressor=regressor,
        regions=regions,
        training=training,
        n_jobs=n_jobs,
        random_state=seed,
    )


def check_zlps(spectra, energy, names, search_range=None):
    """Raise a UserError naming the first spectrum whose ZLP cannot be found."""
    from ..preprocessing import find_zlp_position

    _, status = find_zlp_position(
        spectra, energy, search_range=search_range, missing="nan", return_status=True
    )
    bad = np.flatnonzero(status != "ok")
    if not bad.size:
        return
    try:  # the package's message for that spectrum, which says what to do
        find_zlp_position(spectra[bad[:1]], energy, search_range=search_range)
        reason = str(status[bad[0]])
    except ValueError as exc:
        reason = str(exc).removeprefix("spectrum 0: ")
    more = f" ({bad.size - 1} more spectra too)" if bad.size > 1 else ""
    raise UserError(f"{names[bad[0]]}{more}: {reason}")


def align(specimen, vacuum, search_range=None):
    """Specimen and vacuum spectra aligned together: (specimen, vacuum, axis)."""
    from ..preprocessing import ZeroLossAligner

    blocks = [specimen.spectra] + ([vacuum.spectra] if vacuum is not None else [])
    names = specimen.names + (vacuum.names if vacuum is not None else [])
    X = np.vstack(blocks)
    search = None if search_range is None else tuple(search_range)
    check_zlps(X, specimen.energy, names, search)
    aligner = ZeroLossAligner(energy_axis=specimen.energy, search_range=search).fit(X)
    aligned = aligner.transform(X)
    n = specimen.spectra.shape[0]
    return aligned[:n], (aligned[n:] if vacuum is not None else None), aligner


def band_gap_options(args):
    """The ``fit_band_gap`` keywords of the ``bandgap`` options."""
    b = None if args.b == "free" else args.b
    background = None if args.background == "none" else args.background
    window = None if args.window is None else tuple(args.window)
    return {"window": window, "b": b, "background": background}


def fit_band_gaps(subtractor, aligned, options, stage=None):
    """fit_band_gap on every replica, batch by batch, as one BandGapResult."""
    from ..physics import fit_band_gap

    parts = []
    for batch in subtractor.subtract_batches(aligned):
        parts.append(
            fit_band_gap(
                subtractor.energy_axis_,
                batch,
                read_noise=subtractor.read_noise_,
                **options,
            )
        )
        if stage is not None:
            stage.update(len(batch.status))
    return combine_band_gaps(parts)


def combine_band_gaps(parts):
    """One BandGapResult of the spectra of several (same replicas, same options).

    Every spectrum's fit and statistics are its own, so the joined result equals
    that of one call on all spectra (``e_bg_pooled_*`` is recomputed over all).
    """
    from ..physics import BandGapResult

    if len(parts) == 1:
        return parts[0]
    first = parts[0]

    def join(name, axis):
        return np.concatenate([getattr(p, name) for p in parts], axis=axis)

    return BandGapResult(
        e_bg=join("e_bg", 1),
        b=join("b", 1),
        amplitude=join("amplitude", 1),
        chi2=join("chi2", 1),
        dof=join("dof", 0),
        chi2_direct=join("chi2_direct", 1),
        chi2_indirect=join("chi2_indirect", 1),
        window=join("window", 0),
        b_fixed=first.b_fixed,
        replica_status=join("replica_status", 1),
        status=join("status", 0),
        pedestal=join("pedestal", 1),
        background=first.background,
        p_indirect=None if first.p_indirect is None else join("p_indirect", 0),
        min_replica_fraction=first.min_replica_fraction,
    )


def _training(args, specimen):
    if args.training != "auto":
        return args.training
    return "clusters" if specimen.image_shape is not None else "spectra"


def _out_folder(path):
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise UserError(f"--out '{folder}' is a file; give a folder (created if needed).")
    folder.mkdir(parents=True, exist_ok=True)
    return folder.resolve()


def run_job(args):
    """Run ``subtract``, ``bandgap`` or ``thickness`` as parsed into ``args``."""
    from .._progress import JobProgress
    from . import _output

    command = args.command
    folder = _out_folder(args.out)
    mode = "none" if args.quiet else args.progress
    with JobProgress(mode=mode, stream=sys.stderr) as job:
        specimen = read_inputs(args.files, energy=args.energy, energy_unit=args.energy_unit)
        vacuum = None
        if args.vacuum:
            vacuum = read_inputs(
                args.vacuum, energy=args.energy, energy_unit=args.energy_unit, what="vacuum"
            )
            check_vacuum_compatible(vacuum, specimen)
        n = specimen.spectra.shape[0]
        job.message(
            f"Read {n} specimen spectra from {len(specimen.files)} files"
            + (f" and {vacuum.spectra.shape[0]} vacuum spectra" if vacuum else "")
            + f" ({describe_axis(specimen.energy)})."
        )
        aligned, vacuum_aligned, aligner = align(specimen, vacuum, args.zlp_search)
        energy = aligner.energy_axis_
        training = _training(args, specimen)
        subtractor = build_subtractor(
            energy,
            vacuum_aligned,
            n_replicas=args.replicas,
            max_epochs=args.epochs,
            de1=args.de1,
            de2=args.de2,
            de1_method=args.de1_method,
            training=training,
            device=args.device,
            seed=args.seed,
            n_jobs=args.jobs,
        )
        with job.stage("training", total=None):
            subtractor.fit(aligned)
        regressor = subtractor.regressor_
        job.message(
            f"Trained {args.replicas} replicas on {training}: {regressor.n_replicas_} kept, "
            f"{regressor.n_rejected_} dropped (replicas.csv says why); read noise "
            f"{subtractor.read_noise_:.3g} counts per channel."
        )
        with job.stage("subtracting", total=None):
            result = subtractor.subtract(aligned, keep_replicas=args.keep_replicas)
        band_gap = maps = None
        image = specimen.image_shape
        if command in ("bandgap", "thickness") and image is not None:
            from ..maps import spectral_maps

            options = band_gap_options(args) if command == "bandgap" else {}
            with job.stage("maps", total=None):
                maps = spectral_maps(
                    subtractor,
                    aligned.reshape(*image, energy.size),
                    band_gap=command == "bandgap",
                    n_jobs=args.jobs,
                    **options,
                )
        elif command == "bandgap":
            with job.stage("band gaps", total=n, unit="spectra") as stage:
                band_gap = fit_band_gaps(subtractor, aligned, band_gap_options(args), stage)
        written = _output.write_outputs(
            folder,
            args,
            specimen=specimen,
            subtractor=subtractor,
            result=result,
            band_gap=band_gap,
            maps=maps,
            message=job.message,
        )
    if not args.quiet:
        print(_output.table(command, specimen.names, result, band_gap, maps))
        print(f"\nWritten to {folder}:")
        for path in written:
            print(f"  {path.name}")
    return 0
