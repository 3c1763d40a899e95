"""``save`` and ``load`` for sklearn-zlp estimators (a mixin; the format is in _model_file)."""

__all__ = ["ModelFileMixin"]


class ModelFileMixin:
    """Adds :meth:`save` and the class method :meth:`load` (model files, no pickle)."""

    def save(self, path):
        """Write this fitted estimator to a model file that loads without running code.

        One zip archive of JSON and ``.npy`` arrays (``.zlp`` is the suggested
        extension), versioned and checksummed; read it back with
        :meth:`load` or :func:`sklearn_zlp.load_model`. The format and its
        checks are described in ``sklearn_zlp/io/_model_file.py``. Pickle and
        joblib keep working as for any scikit-learn estimator.

        Parameters
        ----------
        path : str or path-like
            File to write (replaced atomically if it exists).

        Returns
        -------
        path : str
            The file written.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        TypeError
            If it holds something a model file cannot (the message names the
            attribute); nothing is written then.
        """
        from ._model_file import save_model

        return save_model(self, path)

    @classmethod
    def load(cls, path):
        """Load an estimator of this class from a model file written by :meth:`save`.

        Parameters
        ----------
        path : str or path-like
            The model file.

        Returns
        -------
        estimator : object of this class
            Fitted, predicting bitwise as the saved one did.

        Raises
        ------
        ModelFileError
            A foreign, tampered, damaged or too new file (a ValueError).
        TypeError
            The file holds another class.
        """
        from ._model_file import load_model

        return load_model(path, expected=cls)
