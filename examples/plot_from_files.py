"""
From a microscope's files to subtracted spectra
===============================================

The whole job on files: read specimen and vacuum spectra, align them, fit the
ZLP ensemble, subtract, and write the medians with their 68% bands. On the
command line the same is one command (it also writes an HTML report)::

    sklearn-zlp subtract specimen.csv --vacuum vacuum.csv -o out/

Here the "files" are synthetic spectra written to CSV first (energy in the first
column, one spectrum per further column), so that the example runs anywhere;
:func:`~sklearn_zlp.io.read_spectra` reads .msa, .dm3/.dm4, .hspy and .emd the
same way (``pip install "sklearn-zlp[io]"``). The ensemble is tiny so that the
example runs in seconds; real work uses the defaults (100 replicas x 3000 epochs).
"""

# %%
# Files to start from
# -------------------
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from sklearn_zlp.datasets import make_synthetic_eels
from sklearn_zlp.io import write_spectra

folder = Path(tempfile.mkdtemp())
truth = make_synthetic_eels(
    4, energy=np.linspace(-3.0, 12.0, 600), e_bg=1.6, shift_std=0.05, n_vacuum=2,
    random_state=1,
)  # fmt: skip
write_spectra(folder / "specimen.csv", truth.spectra, truth.energy)
write_spectra(folder / "vacuum.csv", truth.vacuum, truth.energy)

# %%
# Read, align, fit, subtract, write: ten lines
# --------------------------------------------
from sklearn_zlp import ZeroLossAligner, ZLPEnsembleRegressor, ZLPRegionMask, ZLPSubtractor
from sklearn_zlp.io import read_spectra

spectra, energy, metadata = read_spectra(folder / "specimen.csv")
vacuum, _, _ = read_spectra(folder / "vacuum.csv")
aligner = ZeroLossAligner(energy_axis=energy).fit(spectra)
sub = ZLPSubtractor(
    aligner.energy_axis_,
    regions=ZLPRegionMask(vacuum=aligner.transform(vacuum)),
    regressor=ZLPEnsembleRegressor(n_replicas=8, max_epochs=1000, lr=0.1, random_state=0),
    random_state=0,
).fit(aligner.transform(spectra))
result = sub.subtract(aligner.transform(spectra))
low, high = result.subtracted_band
write_spectra(
    folder / "subtracted_median.csv", result.subtracted_median, aligner.energy_axis_
)
write_spectra(folder / "subtracted_p16.csv", low, aligner.energy_axis_)
write_spectra(folder / "subtracted_p84.csv", high, aligner.energy_axis_)
print(sub.summary())
print("written:", sorted(p.name for p in folder.iterdir()))

# %%
# The subtracted spectra with their bands
# ---------------------------------------
E = aligner.energy_axis_
fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), layout="constrained", sharey=True)
for i, ax in enumerate(axes):
    ax.fill_between(E, low[i], high[i], alpha=0.4, lw=0)
    ax.plot(E, result.subtracted_median[i], lw=1, label="median, 68% band")
    ax.plot(truth.energy, truth.inelastic[i], "r--", lw=0.8, label="true losses")
    ax.axvline(result.de1[i], color="gray", ls="--", lw=0.8)
    ax.set(
        xlim=(0, 8), xlabel="Energy loss (eV)", title=f"spectrum {i}: {result.status[i]}"
    )
axes[0].set_ylabel("Counts")
_ = axes[0].legend(fontsize=8)
