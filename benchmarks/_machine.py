"""The machine a benchmark ran on, for the header every benchmark prints."""

import os
import platform


def cpu_model():
    """The CPU's model name from /proc/cpuinfo, else what platform knows."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            return next(
                line.split(":", 1)[1].strip() for line in fh if "model name" in line
            )
    except (OSError, StopIteration):
        return cpu


def load_average():
    """The 1, 5 and 15 minute load averages (NaN where the OS has none)."""
    return os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
