"""Build script: metadata lives in setup.cfg; this adds the compiled training step.

``sklearn_zlp/nn/_ckernel.c`` is optional: where it cannot be built (no C compiler),
installation goes on and the package trains with its torch path instead
(``sklearn_zlp/nn/_kernel.py``).
"""

import sys

from setuptools import Extension, setup

if sys.platform == "win32":
    _COMPILE_ARGS = ["/O2"]
    _LINK_ARGS = []
else:
    # -fopenmp-simd honours the SIMD pragmas without linking an OpenMP runtime;
    # -Wno-psabi silences a note about the ABI of 64-byte vectors in the
    # baseline (non-AVX-512) clone, which never crosses a library boundary.
    _COMPILE_ARGS = ["-O3", "-fopenmp-simd", "-fno-math-errno", "-fno-trapping-math"]
    _COMPILE_ARGS += ["-Wno-psabi"]
    _LINK_ARGS = ["-pthread"]

setup(
    ext_modules=[
        Extension(
            "sklearn_zlp.nn._ckernel",
            sources=["sklearn_zlp/nn/_ckernel.c"],
            extra_compile_args=_COMPILE_ARGS,
            extra_link_args=_LINK_ARGS,
            optional=True,
        )
    ]
)
