"""
Thickness and band-gap maps of a spectrum image
===============================================

A spectrum image holds one low-loss spectrum per pixel. Following Roest et al.
(2021, section 3.2) the pixels are grouped by thickness (K-means on ln N_tot),
every cluster gets its own training regions, and every Monte Carlo replica
trains on one random spectrum of each cluster, so training costs as much as a
few spectra whatever the image's size. The fitted subtractor is then applied to
every pixel with all its replicas, reduced on the fly to maps of t/lambda, E_bg
and b with 68% bands and a status per pixel.

The image here is synthetic (known truth), small, and the ensemble tiny, so that
the example runs in seconds; real work uses the defaults (100 replicas).
"""

# %%
# A 12 x 16 image: a thick disc in a thin film
# --------------------------------------------
import matplotlib.pyplot as plt
import numpy as np

from sklearn_zlp import ZLPEnsembleRegressor, ZLPRegionMask, ZLPSubtractor
from sklearn_zlp.datasets import make_synthetic_eels
from sklearn_zlp.maps import spectral_maps

energy = np.linspace(-2.0, 18.0, 512)
y, x = np.mgrid[:12, :16]
thickness = np.where(np.hypot(y - 6, x - 8) < 4, 0.9, 0.3)
image = make_synthetic_eels(
    image_shape=thickness.shape,
    energy=energy,
    t_over_lambda=thickness,
    e_bg=1.6,
    plasmon_energy=15.0,
    random_state=0,
)
print(image.spectra.shape)  # (ny, nx, n_channels)

# %%
# Train on thickness clusters
# ---------------------------
# ``ZLPRegionMask(per="cluster")`` clusters the pixels and estimates dE_I and
# dE_II on each cluster's median spectrum; ``training="clusters"`` draws one
# spectrum per cluster for every replica.
subtractor = ZLPSubtractor(
    energy,
    regressor=ZLPEnsembleRegressor(n_replicas=8, max_epochs=1500, lr=0.1, random_state=0),
    regions=ZLPRegionMask(de1_method="derivative", per="cluster"),
    training="clusters",
    random_state=0,
).fit(image.spectra.reshape(-1, energy.size))
print("clusters:", subtractor.regions_.clusterer_.n_clusters_)
print("dE_I per cluster (eV):", np.round(subtractor.regions_.de1_cluster_, 2))

# %%
# Maps with bands and statuses
# ----------------------------
# Any pixel's numbers depend only on the subtractor and its own spectrum; a dask
# array or a lazy HyperSpy signal gives lazy maps (``maps.compute()``).
maps = spectral_maps(subtractor, image.spectra)
print(maps.summary())
fig = maps.plot()

# %%
# Against the truth
# -----------------
# The log-ratio t/lambda counts what the axis holds: the truth to compare with is
# ln(I_total / I_ZLP) of the noise-free spectra over the same axis.
truth = np.log(image.noise_free.sum(-1) / image.zlp.sum(-1))
fig, ax = plt.subplots(figsize=(4, 3), layout="constrained")
ok = maps.t_over_lambda_status == "ok"
ax.errorbar(
    truth[ok],
    maps.t_over_lambda[ok],
    yerr=np.abs(maps.t_over_lambda_band[:, ok] - maps.t_over_lambda[ok]),
    fmt=".",
)
ax.plot(truth[ok], truth[ok], "k-", lw=0.5)
ax.set_xlabel("true t/lambda over the axis")
ax.set_ylabel("mapped t/lambda (68% band)")
print(f"median E_bg over ok pixels: {np.nanmedian(maps.e_bg):.3f} eV (truth 1.6)")
