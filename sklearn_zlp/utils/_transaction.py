"""Transactional fit: a failed or interrupted fit leaves the estimator as it was."""

import functools

__all__ = ["transactional_fit"]


def transactional_fit(fit):
    """Decorate ``fit`` so that any exception, Ctrl-C included, restores the estimator.

    The estimator's attributes are saved (a shallow copy of ``__dict__``) before
    ``fit`` runs and put back exactly if it raises, so a previous fit keeps
    predicting as before and an unfitted estimator stays unfitted. Fits must
    therefore assign new objects to their attributes, never modify fitted ones
    in place (every estimator of the package does). The exception is re-raised
    with a note that says which state the estimator was left in.
    """

    @functools.wraps(fit)
    def wrapper(self, *args, **kwargs):
        saved = dict(self.__dict__)
        try:
            return fit(self, *args, **kwargs)
        except BaseException as exc:
            self.__dict__.clear()
            self.__dict__.update(saved)
            was_fitted = any(k.endswith("_") and not k.startswith("__") for k in saved)
            state = "keeps its previous fit" if was_fitted else "stays unfitted"
            exc.add_note(
                f"{type(self).__name__}.fit did not finish; the estimator {state}."
            )
            raise

    return wrapper
