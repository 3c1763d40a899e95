"""Render the case table of ``docs/zoo.rst`` from :func:`validation_zoo`.

The table sits between the ``.. zoo-cases-begin`` and ``.. zoo-cases-end``
comments of the page; ``test_zoo.py::test_docs_case_table_is_current`` checks
that it is what the zoo holds today. After changing a case run
``python tests/_zoo_table.py docs/zoo.rst``.
"""

import re
import sys
from pathlib import Path

from sklearn_zlp.datasets import validation_zoo

BEGIN, END = ".. zoo-cases-begin", ".. zoo-cases-end"


def _escape(text):
    """Plain text for a reStructuredText table cell."""
    text = " ".join(str(text).split())
    return re.sub(r"([\\`*_|\[\]<>])", r"\\\1", text)


def render_cases():
    """The list-table of every case, between the two markers."""
    zoo = validation_zoo()
    out = [
        f"{BEGIN}\n\n",
        ".. list-table::\n   :header-rows: 1\n   :widths: 3 14 22 25 16 20\n\n",
        "   * - #\n     - Case (seeds)\n     - What it tests\n     - Spectra\n"
        "     - Pipeline\n     - The defaults must give\n",
    ]
    for n, case in enumerate(zoo.values(), 1):
        cells = [
            f"{case.name} ({case.n_seeds})",
            case.tests,
            case.describe(),
            case.steps_text(),
            case.expectation_text(),
        ]
        out.append(f"   * - {n}\n" + "".join(f"     - {_escape(c)}\n" for c in cells))
    out.append(f"\n{END}")
    return "".join(out)


def replace_cases(text):
    """``text`` (the page) with its case table rendered anew."""
    begin, end = text.index(BEGIN), text.index(END) + len(END)
    return text[:begin] + render_cases() + text[end:]


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/zoo.rst")
    target.write_text(replace_cases(target.read_text()))
    print(f"wrote the case table of {target}")
