"""
Remove the ZLP from a HyperSpy spectrum image in one line
=========================================================

:func:`~sklearn_zlp.hyperspy.remove_zlp` takes a HyperSpy ``Signal1D`` or an
eXSpy ``EELSSpectrum`` (lazy too) and returns the ZLP-free spectra, the matched
ZLP and their 68% bands as HyperSpy signals on the input's axes, t/lambda per
pixel and a status per pixel. The spectra are aligned first, so the outputs carry
the aligned energy axis (ZLP maximum at 0 eV).

The image is synthetic (known truth) with drifting zero-loss peaks, and the
ensemble tiny so that the example runs in seconds; real work uses the defaults
(100 replicas x 3000 epochs).
"""

# %%
# A small spectrum image as an EELSSpectrum, with vacuum spectra
# ---------------------------------------------------------------
import hyperspy.api as hs
import matplotlib.pyplot as plt
import numpy as np

from sklearn_zlp.datasets import make_synthetic_eels
from sklearn_zlp.hyperspy import remove_zlp

energy = np.linspace(-2.0, 10.0, 400)
y, x = np.mgrid[:4, :5]
data = make_synthetic_eels(
    image_shape=(4, 5),
    energy=energy,
    t_over_lambda=0.3 + 0.1 * x,  # thicker to the right
    e_bg=1.6,
    shift_std=0.03,  # ZLP drift from pixel to pixel (eV)
    n_vacuum=2,
    random_state=0,
)
s = hs.signals.Signal1D(data.spectra)
s.set_signal_type("EELS")  # an eXSpy EELSSpectrum where eXSpy is installed
s.metadata.General.title = "synthetic flake"
ax = s.axes_manager.signal_axes[0]
ax.name, ax.units, ax.offset, ax.scale = (
    "Energy loss",
    "eV",
    energy[0],
    energy[1] - energy[0],
)
for axis, name in zip(s.axes_manager.navigation_axes, ("x", "y"), strict=True):
    axis.name, axis.units, axis.scale = name, "nm", 0.5
print(s)

# %%
# One line
# --------
res = remove_zlp(s, vacuum=data.vacuum, n_replicas=8, max_epochs=1000, random_state=0)
print(res)
print(res.subtracted)
print(res.subtracted.axes_manager)
names, counts = np.unique(res.status, return_counts=True)
print("statuses:", {str(n): int(c) for n, c in zip(names, counts, strict=True)})

# %%
# A pixel with its band, and the t/lambda map
# -------------------------------------------
# t/lambda is the log-ratio over the axis: this one stops at 10 eV, far below
# the 22 eV plasmon, so it counts only the losses it holds (a fraction of the
# true 0.3-0.7); the log-ratio needs an axis of ~8 plasmon energies.
E = res.energy
fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5), layout="constrained")
pixel = (1, 3)
left.plot(energy, s.data[pixel], "k", lw=0.8, label="data (raw axis)")
left.fill_between(
    E, res.subtracted_lower.data[pixel], res.subtracted_upper.data[pixel], alpha=0.4
)
left.plot(E, res.subtracted.data[pixel], lw=1, label="ZLP subtracted, 68% band")
left.plot(energy, data.inelastic[pixel], "r--", lw=0.8, label="true losses (raw axis)")
left.set(xlim=(0, 6), ylim=(-500, 1.5 * data.inelastic[pixel][E < 6].max()))
left.set(xlabel="Energy loss (eV)", ylabel="Counts")
left.legend(fontsize=8)
image = right.imshow(res.t_over_lambda.data)
fig.colorbar(image, ax=right, label="t/lambda (median)")
_ = right.set(title="t/lambda per pixel", xlabel="x", ylabel="y")

# %%
# Lazy in, lazy out; and the same subtractor on another signal
# ------------------------------------------------------------
# A lazy signal gives lazy signals computed chunk by chunk; ``res.compute()``
# computes all of them in one pass. With ``subtractor=`` nothing is refitted.
lazy = remove_zlp(s.as_lazy(), subtractor=res.subtractor)
print(lazy.subtracted)
same = lazy.compute()
print("lazy equals eager:", np.array_equal(same.subtracted.data, res.subtracted.data))
