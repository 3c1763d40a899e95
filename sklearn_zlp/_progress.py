"""One progress display for a whole job: stages, messages, and training in workers.

A :class:`JobProgress` is the job's one display: on a terminal one line redrawn
in place, otherwise plain lines at most every tenth of a stage or 10 s (no
carriage returns in log files), or nothing. It is found through a context
variable, so that code deep in the package reports to it without parameters:
ensemble training (replica-epochs), :meth:`ZLPSubtractor.subtract` (spectra)
and :func:`~sklearn_zlp.maps.spectral_maps` (pixels) call :func:`progress_task`.

Replicas train in joblib workers, usually other processes, which post their
epochs through :mod:`sklearn_zlp._worker_progress`. Nothing here touches the
numbers: fits are bitwise the same with any display or none.
"""

import contextlib
import contextvars
import shutil
import sys
import threading
import time

__all__ = ["JobProgress", "ProgressStage", "SilentTask", "progress_task"]

MODES = ("auto", "bar", "lines", "none")
_LINE_FRACTION = 0.1  # "lines": a line per tenth of the stage ...
_LINE_SECONDS = 10.0  # ... or per 10 s of progress, whichever comes first
_BAR_SECONDS = 0.1  # "bar": at most 10 redraws a second
_ACTIVE = contextvars.ContextVar("sklearn_zlp_job_progress", default=None)


def _is_tty(stream):
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def _seconds(s):
    """Duration for a person: '4.2 s', '38 s', '3 min 05 s', '2 h 07 min'."""
    if s < 10:
        return f"{s:.1f} s"
    if s < 60:
        return f"{s:.0f} s"
    m, sec = divmod(int(round(s)), 60)
    if m < 60:
        return f"{m} min {sec:02d} s"
    return f"{m // 60} h {m % 60:02d} min"


def _clock(s):
    m, sec = divmod(int(s), 60)
    return f"{m // 60}:{m % 60:02d}:{sec:02d}" if m >= 60 else f"{m:02d}:{sec:02d}"


class JobProgress:
    """The one progress display of a job, for the ``with`` block it is active in.

    Parameters
    ----------
    mode : {"auto", "bar", "lines", "none"}, default="auto"
        "bar": one line redrawn with carriage returns (for terminals);
        "lines": a plain line at most every tenth of a stage or every 10 s, and
        no carriage returns (for log files); "none": nothing; "auto": "bar"
        when ``stream`` is a terminal, else "lines".
    stream : file-like, default=None
        Where to write; None means ``sys.stderr`` when the block is entered.

    See Also
    --------
    progress_task : how package code reports to the active display.

    Notes
    -----
    Inside a stage opened with ``total=None``, the package's own work reports
    its progress there: ensemble training in replica-epochs (its total grows
    when replicas are retrained), :meth:`ZLPSubtractor.subtract` in spectra,
    :func:`~sklearn_zlp.maps.spectral_maps` in pixels. A stage with a total is
    counted by its owner alone (``stage.update``). Package work run outside
    any stage opens a stage of its own. Nested stages show the innermost.
    A stage that ends by an exception says so in its last line, and the
    exception propagates.

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> with JobProgress(mode="lines", stream=out) as job:
    ...     job.message("Read 2 spectra.")
    ...     with job.stage("counting", total=2, unit="spectra") as stage:
    ...         stage.update(2)
    >>> print(out.getvalue())  # doctest: +ELLIPSIS
    Read 2 spectra.
    counting: done in ... s (2/2 spectra)
    <BLANKLINE>
    """

    def __init__(self, mode="auto", stream=None):
        self.mode = mode
        self.stream = stream

    def __enter__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}.")
        if getattr(self, "_token", None) is not None:
            raise RuntimeError("this JobProgress is already active; enter it once.")
        self.stream_ = sys.stderr if self.stream is None else self.stream
        mode = self.mode
        if mode == "auto":
            mode = "bar" if _is_tty(self.stream_) else "lines"
        self.mode_ = mode
        self._lock = threading.RLock()
        self._stages = []
        self._shown = 0  # characters of the bar now on the line ("bar" mode)
        self._broken = False
        self._token = _ACTIVE.set(self)
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            with self._lock:
                while self._stages:  # left open, e.g. by an abandoned generator
                    self._stages[-1]._finish(exc_type)
                self._clear_bar()
        finally:
            token, self._token = self._token, None
            with contextlib.suppress(ValueError):  # exited in another context
                _ACTIVE.reset(token)
        return False

    def _check_active(self):
        if getattr(self, "_token", None) is None:
            raise RuntimeError(
                "JobProgress is used in a `with` block: `with JobProgress() as job:`."
            )

    def message(self, text):
        """Print ``text`` as one line (above the bar, which is redrawn under it)."""
        self._check_active()
        with self._lock:
            if self.mode_ == "none":
                return
            self._clear_bar()
            self._write(f"{text}\n")
            self._redraw()

    @contextlib.contextmanager
    def stage(self, name, total=None, *, unit=None):
        """A named part of the job, shown until the block ends.

        Parameters
        ----------
        name : str
            Shown at the start of the stage's lines.
        total : int, default=None
            Amount of work of the stage, counted with ``stage.update(n)``; None
            lets the package's work inside the block report its own total.
        unit : str, default=None
            What is counted, e.g. "spectra".

        Yields
        ------
        stage : ProgressStage
        """
        self._check_active()
        stage = ProgressStage(self, name, total, unit)
        with self._lock:
            self._stages.append(stage)
            self._redraw()
        try:
            yield stage
        except BaseException as exc:
            stage._finish(type(exc))
            raise
        stage._finish(None)

    # -- rendering (callers hold the lock) -------------------------------------

    def _write(self, text):
        if self._broken:
            return
        try:
            self.stream_.write(text)
            self.stream_.flush()
        except (OSError, ValueError):  # a closed stream or pipe: stop, never fail
            self._broken = True

    def _clear_bar(self):
        if self._shown:
            self._write("\r" + " " * self._shown + "\r")
            self._shown = 0

    def _redraw(self):
        if self.mode_ != "bar" or not self._stages:
            return
        stage = self._stages[-1]
        stage._drawn = time.monotonic()
        width = max(shutil.get_terminal_size((80, 24)).columns - 1, 20)
        text = stage._bar_text(width)
        self._write("\r" + text + " " * max(self._shown - len(text), 0))
        self._shown = len(text)

    def _progressed(self, stage):
        if self.mode_ == "none" or not self._stages or stage is not self._stages[-1]:
            return  # an outer stage is shown again when the inner one ends
        now = time.monotonic()
        if self.mode_ == "bar":
            if now - stage._drawn >= _BAR_SECONDS:
                self._redraw()
            return
        if stage.total and stage.n >= stage.total:
            return  # the stage's last line says so
        step = stage.n - stage._line_n
        if (stage.total and step >= _LINE_FRACTION * stage.total) or (
            step > 0 and now - stage._line_time >= _LINE_SECONDS
        ):
            stage._line_n, stage._line_time = stage.n, now
            self._write(stage._line_text() + "\n")


class ProgressStage:
    """One stage of a :class:`JobProgress`; ``update(n)`` counts ``n`` more done.

    Attributes
    ----------
    name : str
    total : int or None
    n : int
        Amount done so far.
    unit : str or None
    """

    def __init__(self, job, name, total, unit):
        self.name = str(name)
        self.total = None if total is None else int(total)
        self.unit = unit
        self.n = 0
        self._job = job
        # Package work may report here only if the owner left the total open.
        self._claimable = total is None
        self._claimed = False
        self._start = self._line_time = time.monotonic()
        self._line_n = 0
        self._drawn = 0.0
        self._done = False
        self._first = None  # (time, n) of the first progress, for the rate

    @property
    def elapsed(self):
        """Seconds since the stage began."""
        return time.monotonic() - self._start

    def update(self, n=1):
        """Count ``n`` more done."""
        with self._job._lock:
            self._set(self.n + int(n))

    def _set(self, n):
        with self._job._lock:
            if n > self.n:
                self.n = int(n)
                if self._first is None:  # the rate is measured from here on
                    self._first = (time.monotonic(), self.n)
                self._job._progressed(self)

    def _add_total(self, n):
        with self._job._lock:
            self.total = (self.total or 0) + int(n)

    def _count(self):
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.n}{unit}" if self.total is None else f"{self.n}/{self.total}{unit}"

    def _line_text(self):
        elapsed = self.elapsed
        text = f"{self.name}: "
        if self.total:
            text += f"{100 * self.n / self.total:.0f}% ({self._count()}), "
        else:
            text += f"{self._count()}, "
        text += f"{_seconds(elapsed)} elapsed"
        left = self._remaining()
        if left is not None:
            text += f", ~{_seconds(left)} left"
        return text

    def _remaining(self):
        """Seconds left at the rate since the first progress (not since the start,
        which may include the workers' start-up), or None."""
        if (
            not self.total
            or self._first is None
            or not self._first[1] < self.n < self.total
        ):
            return None
        since, n0 = self._first
        return (time.monotonic() - since) * (self.total - self.n) / (self.n - n0)

    def _bar_text(self, width):
        elapsed = self.elapsed
        if not self.total:
            count = self._count() if self.n else "..."
            return f"{self.name}: {count} [{_clock(elapsed)}]"[:width]
        frac = min(self.n / self.total, 1.0)
        left = f"{self.name}: {100 * frac:3.0f}%|"
        eta = 0.0 if self.n >= self.total else self._remaining()
        rest = "?" if eta is None else _clock(eta)
        right = f"| {self._count()} [{_clock(elapsed)}<{rest}]"
        room = width - len(left) - len(right)
        if room < 5:
            return (left[:-1] + right[1:])[:width]
        return left + ("#" * int(frac * room)).ljust(room, "-") + right

    def _finish(self, exc_type):
        job = self._job
        with job._lock:
            if self._done:
                return
            self._done = True
            if self in job._stages:
                job._stages.remove(self)
            if job.mode_ == "none":
                return
            job._clear_bar()
            took = _seconds(self.elapsed)
            count = f" ({self._count()})" if self.n or self.total else ""
            if exc_type is None:
                text = f"{self.name}: done in {took}{count}"
            elif issubclass(exc_type, KeyboardInterrupt):
                text = f"{self.name}: interrupted after {took}{count}"
            else:
                text = f"{self.name}: stopped by {exc_type.__name__} after {took}{count}"
            job._write(text + "\n")
            job._redraw()


class _Task:
    """Package work's handle on a stage: counts in its own units from where it began."""

    active = True

    def __init__(self, stage, total):
        self.stage = stage
        self.total = total
        self.n = 0
        self._base = stage.n

    def update(self, n=1):
        self.set(self.n + n)

    def set(self, n):
        """Amount of this task done so far (never decreases, never above its total)."""
        with self.stage._job._lock:
            if self.total is not None:
                n = min(n, self.total)
            if n > self.n:
                self.n = n
                self.stage._set(self._base + n)

    def add_total(self, n):
        """More work than announced (e.g. replicas retrained)."""
        with self.stage._job._lock:
            self.total = (self.total or 0) + n
            self.stage._add_total(n)

    def message(self, text):
        self.stage._job.message(text)


class SilentTask:
    """What package work reports to when nothing is displayed: does nothing."""

    active = False
    n = 0

    def update(self, n=1):
        pass

    def set(self, n):
        pass

    def add_total(self, n):
        pass

    def message(self, text):
        pass


@contextlib.contextmanager
def progress_task(name, total, unit, *, verbose=0, own_stage=True):
    """Report package work to the active :class:`JobProgress`, if any.

    Parameters
    ----------
    name : str
        Name of the stage the work opens when it needs one.
    total : int
        Amount of work, in ``unit``.
    unit : str
        What is counted ("replica-epochs", "spectra", "pixels").
    verbose : int, default=0
        Without an active display, show one of its own ("auto" mode on
        stderr) for this work when > 0; else report nothing.
    own_stage : bool, default=True
        Open a stage when the display has none open; False reports only into
        a stage already open (for generators, which may be abandoned).

    Yields
    ------
    task
        ``update(n)``, ``set(n)``, ``add_total(n)``, ``message(text)`` and
        ``active`` (False when nothing is shown; the calls then do nothing).
        The work reports into the innermost stage if that was opened with
        ``total=None``, counts in the same unit and no other work reports
        there now; else it opens a stage of its own (outside any stage) or
        stays silent (inside another's stage, e.g. the subtraction inside
        the maps' pixels).
    """
    job = _ACTIVE.get()
    if job is None or getattr(job, "_token", None) is None:
        if not verbose or not own_stage:
            yield SilentTask()
            return
        with JobProgress("auto") as job, job.stage(name, total, unit=unit) as stage:
            stage._claimable = False
            yield _Task(stage, total)
        return
    if job.mode_ == "none":
        yield SilentTask()
        return
    if not job._stages:
        if not own_stage:
            yield SilentTask()
            return
        with job.stage(name, total, unit=unit) as stage:
            stage._claimable = False
            yield _Task(stage, total)
        return
    with job._lock:  # other threads of this context may report too
        stage = job._stages[-1]
        claim = stage._claimable and not stage._claimed and stage.unit in (None, unit)
        if claim:
            stage._claimed = True
            stage.unit = unit
            stage._add_total(total)
    if not claim:
        yield SilentTask()
        return
    try:
        yield _Task(stage, total)
    finally:
        stage._claimed = False
