"""Progress of joblib workers, posted to a file that the main process reads.

Replicas train in joblib workers, usually other processes. Each worker posts
its chunk's epoch count to one 8-byte slot of a small temporary file
(:class:`EpochCounters`) at most every 0.2 s, and a thread of the main process
reads the file 4 times a second (:func:`poll_in_background`); chunks that come
back are counted whole. With the default 100 replicas in chunks of 50 and
``n_jobs=2`` there are 2 chunks, both finishing at the end: chunk-level counts
alone would jump from 0 to 100%. Where a worker cannot open the file (dask or
ray workers on another machine) only the chunks that come back are counted.

Cost (``benchmarks/bench_progress.py``, 2-core VM shared with other jobs, load
3-4): a default-ish fit (100 replicas x 2000 epochs, 792 WS2 points, n_jobs=2)
with a display took 1.018 times as long as without (median of 6 alternating
pairs; single pairs 0.76-1.53, the machine's noise), 1.0065 times the CPU time
with n_jobs=1 (pairs 0.92-1.04); bitwise the same predictions. Worst case, a
1-replica fit on 20 points (0.24 ms per epoch): 1.017 times the CPU time
(median of 8 pairs), i.e. ~4 us per epoch for the callback in skorch's loop,
~0.25% of a 50-replica chunk's 1.6 ms epoch. A read of the file takes 4 us.
"""

import contextlib
import os
import struct
import tempfile
import threading
import time

__all__ = ["CounterSlot", "EpochCounters", "poll_in_background"]


class EpochCounters:
    """Counters that workers post to and the main process reads: a temporary file.

    One little-endian int64 slot per task. A worker opens its slot by path, so
    any worker on this machine can post (processes or threads of loky,
    threading, multiprocessing, a local dask or ray); one that cannot open the
    file posts nothing, and its task counts only when its result comes back.

    Parameters
    ----------
    n_slots : int
        Number of tasks.
    """

    def __init__(self, n_slots):
        self.n_slots = int(n_slots)
        fd, self.path = tempfile.mkstemp(prefix="sklearn_zlp_progress_", suffix=".bin")
        try:
            os.write(fd, bytes(8 * self.n_slots))
        finally:
            os.close(fd)

    def slot(self, index):
        """The picklable handle a worker posts to."""
        return CounterSlot(self.path, index)

    def read(self):
        """Every slot's last posted value (0 where nothing was posted)."""
        try:
            with open(self.path, "rb") as f:
                data = f.read(8 * self.n_slots)
        except OSError:
            return [0] * self.n_slots
        data = data.ljust(8 * self.n_slots, b"\0")
        return list(struct.unpack(f"<{self.n_slots}q", data))

    def close(self):
        with contextlib.suppress(OSError):
            os.unlink(self.path)


class CounterSlot:
    """One task's slot of an :class:`EpochCounters` file; ``open()`` to post."""

    def __init__(self, path, index, interval=0.2):
        self.path = path
        self.index = index
        self.interval = interval

    def open(self):
        """A writer (``post(value, force=False)``, ``close()``), or None if unreachable."""
        try:
            return _SlotWriter(self)
        except OSError:
            return None


class _SlotWriter:
    def __init__(self, slot):
        self._file = open(slot.path, "r+b", buffering=0)
        self._offset = 8 * slot.index
        self._interval = slot.interval
        self._next = 0.0

    def post(self, value, force=False):
        """Write ``value`` if ``interval`` s have passed since the last write (or forced)."""
        if self._file is None:
            return
        now = time.monotonic()
        if not force and now < self._next:
            return
        self._next = now + self._interval
        try:
            self._file.seek(self._offset)
            self._file.write(struct.pack("<q", int(value)))
        except OSError:
            self.close()

    def close(self):
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None


@contextlib.contextmanager
def poll_in_background(function, interval=0.25):
    """Call ``function()`` every ``interval`` s in a daemon thread inside the block.

    Exceptions in ``function`` are ignored: a display must never fail the job.
    """
    stop = threading.Event()

    def loop():
        while not stop.wait(interval):
            with contextlib.suppress(Exception):
                function()

    thread = threading.Thread(target=loop, name="sklearn_zlp-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5 * interval)
