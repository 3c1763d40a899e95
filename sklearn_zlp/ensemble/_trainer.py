"""Training rounds of a replica ensemble: chunks, checkpoints, diagnostics, restarts.

The estimator prepares the problem (scaled inputs, each replica's pseudo-data,
split and seeds); :class:`EnsembleTraining` trains it: the first round in chunks
of ``replicas_per_chunk``, then up to ``max_restarts`` rounds that retrain the
replicas that failed (:func:`classify_replicas`) or are stuck far above the
median chi^2. Every group of replicas runs through :func:`fit_group` in a joblib
worker and, with a checkpoint store, is written when it finishes and loaded
instead of trained when a later fit asks for the same group.
"""

import os

import numpy as np
from sklearn.utils.parallel import Parallel, delayed

from .._progress import SilentTask, progress_task
from .._worker_progress import EpochCounters, poll_in_background
from ..nn._library import engine_settings, run_with_engine_settings
from ._checkpoint import CheckpointStore, array_digest, fit_group, restore_group
from ._diagnostics import classify_replicas, stuck_replicas
from ._draws import MAX_SEED
from ._training import copy_replica, net_predict

__all__ = ["EnsembleTraining", "LR_RETRY_FACTOR", "fit_indexed_group"]

# A replica that diverged (or went non-finite) is retrained at this fraction of
# the learning rate it diverged at: lr 1e6 needs six such steps to reach 1.
LR_RETRY_FACTOR = 0.1


class EnsembleTraining:
    """One fit's training problem and the rounds that train it.

    Parameters
    ----------
    inputs : ndarray of shape (n_features, n_points)
        Scaled inputs, shared by all replicas.
    targets, w_train : ndarray of shape (n_replicas, n_points)
        Pseudo-data and training weights per replica.
    w_valid : ndarray of shape (n_replicas, n_points) or None
        Validation weights per replica.
    init_seeds, seeds : ndarray of shape (n_replicas,)
        Seeds of the initial weights and of the replicas.
    chi2_weights : ndarray of shape (n_points,)
        Weights of the final chi^2 on all points (mean chi^2 over active points).
    reference : ndarray of shape (n_points,) or None
        Targets of the final chi^2 when they are not the replica's own (bootstrap).
    active : ndarray of shape (n_points,) of bool
        Points with data.
    target_range : float
        Range of the scaled targets over active points (0 where a constant is
        the right answer).
    pairs : ndarray of shape (2, n_pairs) or None
        Monotonicity pairs; ``penalty`` their weight.
    net_params : dict
        Keyword arguments of ``fit_chunk`` shared by all groups (architecture,
        epochs, schedule, device, threads); ``lr`` is per group.
    lr : float
        Learning rate of the first round.
    replicas_per_chunk, n_jobs : int
        Chunking and parallelism.
    checkpoint_dir : path-like or None
        Where finished groups are written and looked up.
    verbose : int
        Show a progress display of its own when no ``JobProgress`` is active.

    Notes
    -----
    Progress is reported in replica-epochs (replicas times ``max_epochs``, more
    for restarts) to the active :class:`~sklearn_zlp._progress.JobProgress`:
    each worker posts its group's epochs to a counter file read by a thread of
    this process, and a group that comes back counts whole (early stopped or
    loaded from a checkpoint). Results do not depend on it.
    """

    def __init__(
        self,
        *,
        inputs,
        targets,
        w_train,
        w_valid,
        init_seeds,
        seeds,
        chi2_weights,
        reference,
        active,
        target_range,
        pairs,
        penalty,
        net_params,
        lr,
        replicas_per_chunk,
        n_jobs,
        checkpoint_dir,
        verbose,
    ):
        self.inputs = inputs
        self.targets = targets
        self.w_train = w_train
        self.w_valid = w_valid
        self.init_seeds = init_seeds
        self.seeds = seeds
        self.chi2_weights = chi2_weights
        self.reference = reference
        self.active = active
        self.target_range = target_range
        self.pairs = pairs
        self.penalty = penalty
        self.net_params = net_params
        self.lr = lr
        self.replicas_per_chunk = replicas_per_chunk
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.store = None if checkpoint_dir is None else CheckpointStore(checkpoint_dir)
        self.n_loaded = 0
        self.n_trained = 0
        self._task = SilentTask()  # what train() reports to
        if self.store is not None:
            # What every group shares, hashed once.
            self._shared = {
                "inputs": array_digest(inputs),
                "pairs": None if pairs is None else array_digest(pairs),
            }

    # -- groups -----------------------------------------------------------------

    def _fit_args(self, group, init_seeds, lr, label):
        args = (
            self.inputs,
            self.targets[group],
            self.w_train[group],
            None if self.w_valid is None else self.w_valid[group],
            init_seeds[group],
        )
        kwargs = dict(
            self.net_params,
            lr=float(lr),
            description=f"{label} {group[0]}-{group[-1]}",
            pairs=self.pairs,
            penalty=self.penalty,
        )
        return args, kwargs

    def _key(self, group, args, kwargs):
        arrays = {
            **self._shared,
            "targets": args[1],
            "w_train": args[2],
            "w_valid": args[3],
            "init_seeds": np.asarray(args[4], dtype=np.int64),
            "seeds": np.asarray(self.seeds[group], dtype=np.int64),
        }
        params = {
            name: kwargs[name]
            for name in (
                "hidden_layer_sizes",
                "activations",
                "max_epochs",
                "lr",
                "lr_schedule",
                "n_iter_no_change",
                "penalty",
            )
        }
        params["hidden_layer_sizes"] = [int(s) for s in params["hidden_layer_sizes"]]
        params["activations"] = list(params["activations"])
        params["penalty"] = float(params["penalty"])
        # Results are the same on any CPU thread count, not across device types,
        # nor between the compiled step and the torch path it can be switched to.
        params["device"] = str(kwargs["device"]).split(":")[0]
        params["kernel"] = os.environ.get("SKLEARN_ZLP_KERNEL", "")
        return self.store.key(arrays, params)

    def run(self, groups, init_seeds, lrs, label):
        """Train (or load) each group; results in the order of ``groups``."""
        results = [None] * len(groups)
        jobs = []
        for k, group in enumerate(groups):
            args, kwargs = self._fit_args(group, init_seeds, lrs[group[0]], label)
            key = None
            if self.store is not None:
                key = self._key(group, args, kwargs)
                stored = self.store.load(key)
                if stored is not None:
                    results[k] = restore_group(stored, args, kwargs)
                    if results[k] is None:
                        self.store.reject(key, "holds arrays that do not fit this network")
                    else:
                        self.n_loaded += len(group)
                        continue
            jobs.append((k, key, args, kwargs))
        share = int(self.net_params["max_epochs"])
        if self.store is not None:
            n_load = len(groups) - len(jobs)
            self._task.update(
                share * sum(len(g) for g in groups)
                - share * sum(len(groups[k]) for k, *_ in jobs)
            )
            self._task.message(
                f"ZLPEnsembleRegressor: {label}: {n_load} of {len(groups)} groups "
                f"loaded from {self.store.directory}, training {len(jobs)}"
            )
        trained = self._train_jobs(jobs, [len(groups[k]) for k, *_ in jobs])
        for (k, *_), result in zip(jobs, trained, strict=True):
            results[k] = result
            self.n_trained += len(groups[k])
        return results

    def _train_jobs(self, jobs, sizes):
        """``fit_group`` of every job in parallel; results in the order of ``jobs``.

        With a display, each worker posts its epochs to a counter slot (read
        here 4 times a second) and results are taken as they come back, each
        counting ``size * max_epochs``; without one, nothing else runs.
        """
        if not self._task.active or not jobs:
            settings = engine_settings()
            return Parallel(n_jobs=self.n_jobs)(
                delayed(run_with_engine_settings)(
                    settings, fit_group, self.store, key, args, kwargs
                )
                for _, key, args, kwargs in jobs
            )
        share = int(self.net_params["max_epochs"])
        task, start = self._task, self._task.n
        counters = EpochCounters(len(jobs))
        back = [False] * len(jobs)

        def report():
            posted = counters.read()
            task.set(
                start
                + sum(
                    size * (share if done else min(max(epochs, 0), share))
                    for size, done, epochs in zip(sizes, back, posted, strict=True)
                )
            )

        settings = engine_settings()
        calls = [
            delayed(run_with_engine_settings)(
                settings,
                fit_indexed_group,
                i,
                self.store,
                key,
                args,
                {**kwargs, "progress": counters.slot(i)},
            )
            for i, (_, key, args, kwargs) in enumerate(jobs)
        ]
        results = [None] * len(jobs)
        try:
            with poll_in_background(report):
                outputs = _as_completed(self.n_jobs, calls)
                try:
                    for i, result in outputs:
                        results[i] = result
                        back[i] = True
                        report()
                finally:
                    getattr(outputs, "close", lambda: None)()
        finally:
            counters.close()
        return results

    # -- rounds -----------------------------------------------------------------

    def final_chi2(self, predictions, rows):
        """chi^2 on all points of the replica's own pseudo-data (bootstrap: the data)."""
        target = self.targets[rows] if self.reference is None else self.reference
        return ((predictions - target) ** 2 * self.chi2_weights).sum(axis=1)

    def classify(self, predictions, best_loss, net):
        return classify_replicas(
            predictions,
            best_loss,
            net.replica_first_loss_,
            net.replica_last_loss_,
            self.active,
            self.target_range,
        )

    def train(self, max_restarts, restart_chi2):
        """First round plus restarts; returns the state of every replica.

        Reports to the active display (see the class notes); see
        :meth:`_rounds` for what is trained.
        """
        n_work = self.targets.shape[0] * int(self.net_params["max_epochs"])
        with progress_task(
            "training", n_work, "replica-epochs", verbose=self.verbose
        ) as task:
            self._task = task
            try:
                return self._rounds(max_restarts, restart_chi2)
            finally:
                self._task = SilentTask()

    def _rounds(self, max_restarts, restart_chi2):
        """First round plus restarts (the work of :meth:`train`).

        A failed replica (see :func:`classify_replicas`) is always replaced by
        its retrained fit; one that diverged or went non-finite retrains at
        ``LR_RETRY_FACTOR`` times its learning rate, and so does every later
        failure of it. A stuck one (final chi^2
        above ``restart_chi2`` times the median of the good ones) keeps whichever
        fit has the lower chi^2. Retraining keeps the replica's pseudo-data and
        split and draws new initial weights from its own seed and the attempt.
        """
        n = self.targets.shape[0]
        per_chunk = self.replicas_per_chunk
        chunks = [np.arange(i, min(i + per_chunk, n)) for i in range(0, n, per_chunk)]
        lrs = np.full(n, float(self.lr))
        results = self.run(chunks, self.init_seeds, lrs, "replicas")
        nets = [r[0] for r in results]
        best_epoch = np.concatenate([r[1] for r in results]).astype(np.int64)
        best_loss = np.concatenate([r[2] for r in results])
        n_epochs = np.array([r[3] for r in results])
        first_loss = np.concatenate([net.replica_first_loss_ for net in nets])
        last_loss = np.concatenate([net.replica_last_loss_ for net in nets])
        predictions = np.concatenate([net_predict(net, self.inputs) for net in nets])
        chi2 = self.final_chi2(predictions, slice(None))
        status = np.concatenate(
            [
                self.classify(predictions[c], best_loss[c], net)
                for c, net in zip(chunks, nets, strict=True)
            ]
        )
        restarts = np.zeros(n, dtype=np.int64)
        slowed = np.zeros(n, dtype=bool)
        for attempt in range(1, max_restarts + 1):
            failed = status != "ok"
            stuck = stuck_replicas(chi2, ~failed, restart_chi2)
            redo = np.flatnonzero(failed | stuck)
            if not redo.size:
                break
            # Once a replica has diverged, every later failure of it retries at
            # a smaller step too: large steps also end in saturated (dead) units.
            slower = failed & (np.isin(status, ("diverged", "non_finite")) | slowed)
            lrs[slower] *= LR_RETRY_FACTOR
            slowed |= slower
            new_init = self.init_seeds.copy()
            new_init[redo] = [
                np.random.default_rng([int(self.seeds[i]), attempt]).integers(MAX_SEED)
                for i in redo
            ]
            groups = []
            for value in np.unique(lrs[redo])[::-1]:
                members = redo[lrs[redo] == value]
                # As many groups as the first round had chunks, so the retraining
                # uses every worker; the split does not depend on n_jobs.
                n_groups = max(-(-members.size // per_chunk), len(chunks))
                groups += [g for g in np.array_split(members, n_groups) if g.size]
            self._task.add_total(redo.size * int(self.net_params["max_epochs"]))
            retrained = self.run(groups, new_init, lrs, f"restart {attempt}")
            for group, (net, epochs, losses, _) in zip(groups, retrained, strict=True):
                new_pred = net_predict(net, self.inputs)
                new_chi2 = self.final_chi2(new_pred, group)
                new_status = self.classify(new_pred, losses, net)
                for j, i in enumerate(group):
                    if not failed[i] and not (
                        new_status[j] == "ok" and new_chi2[j] < chi2[i]
                    ):
                        continue
                    chunk, pos = divmod(int(i), per_chunk)
                    copy_replica(net, j, nets[chunk], pos)
                    best_epoch[i] = epochs[j]
                    best_loss[i] = losses[j]
                    first_loss[i] = net.replica_first_loss_[j]
                    last_loss[i] = net.replica_last_loss_[j]
                    predictions[i] = new_pred[j]
                    chi2[i] = new_chi2[j]
                    status[i] = new_status[j]
            restarts[redo] += 1
        for net in nets:  # the per-chunk copies are superseded by the arrays below
            net.__dict__.pop("replica_first_loss_", None)
            net.__dict__.pop("replica_last_loss_", None)
        return {
            "nets": nets,
            "best_epoch": best_epoch,
            "best_loss": best_loss,
            "first_loss": first_loss,
            "last_loss": last_loss,
            "n_epochs": n_epochs,
            "chi2": chi2,
            "status": status,
            "restarts": restarts,
            "lr": lrs,
        }


def fit_indexed_group(index, store, key, args, kwargs):
    """``(index, fit_group(...))``: a result that says which job it is (a joblib worker)."""
    return index, fit_group(store, key, args, kwargs)


def _as_completed(n_jobs, calls):
    """``(index, result)`` pairs as jobs finish, or all at the end where the joblib
    backend cannot hand results back one by one (multiprocessing, ray)."""
    try:
        parallel = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
    except ValueError:
        return iter(Parallel(n_jobs=n_jobs)(calls))
    return parallel(calls)
