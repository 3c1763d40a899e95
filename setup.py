"""Build script: metadata lives in setup.cfg; this adds the compiled training step.

The kernel (``sklearn_zlp/nn/_ckernel*.c``) is optional: where it cannot be built
(no C compiler), installation goes on and the package trains with its torch path
instead (``sklearn_zlp/nn/_library.py`` says which path runs and why). On x86-64 one
library holds a baseline, an AVX2 and an AVX-512 variant of the kernel, each compiled
with vectors of its own register width; the best one the CPU runs is chosen when the
library loads (``sklearn_zlp.nn.engine_info()``).
"""

import sys

from setuptools import Extension, setup

_KERNEL = "sklearn_zlp/nn/_ckernel"
_SOURCES = [f"{_KERNEL}{variant}.c" for variant in ("", "_avx512", "_avx2", "_baseline")]
_HEADERS = [f"{_KERNEL}.h", f"{_KERNEL}_simd.h"]

if sys.platform == "win32":
    _COMPILE_ARGS = ["/O2"]
    _LINK_ARGS = []
else:
    # -fopenmp-simd honours the SIMD pragmas without linking an OpenMP runtime.
    _COMPILE_ARGS = ["-O3", "-fopenmp-simd", "-fno-math-errno", "-fno-trapping-math"]
    _LINK_ARGS = ["-pthread"]

setup(
    ext_modules=[
        Extension(
            "sklearn_zlp.nn._ckernel",
            sources=_SOURCES,
            depends=_HEADERS,
            extra_compile_args=_COMPILE_ARGS,
            extra_link_args=_LINK_ARGS,
            optional=True,
        )
    ]
)
