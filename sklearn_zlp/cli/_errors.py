"""User errors as one line on stderr: the reason and the fix, never a traceback.

The package's messages are written for Python callers and can span several lines
and name keyword arguments; here they become one line, and where a message names
an argument that has a command-line option the option is named too.
"""

import re

PROG = "sklearn-zlp"
# Exit statuses: 2 for anything the user can fix (argparse's own), 130 for Ctrl-C
# (128 + SIGINT, what shells report), 1 for a failure that is our bug.
EXIT_USER = 2
EXIT_INTERRUPTED = 130
EXIT_INTERNAL = 1

# How long one error line may grow before middle sentences are dropped: long
# enough for a reason and its fix, short enough to read in one terminal line or two.
_MAX_CHARS = 600

# (pattern in a package message, the command-line option that does the same)
_OPTION_HINTS = (
    (re.compile(r"energy_unit='?(k?m?eV)'?"), "--energy-unit {0}"),
    (re.compile(r"energy=\(offset, dispersion\)"), "--energy OFFSET DISPERSION"),
    (re.compile(r"\bsearch_range\b"), "--zlp-search LO HI"),
    (re.compile(r"\b[Ss]et de1\b|\bpass de1\b|\bde1="), "--de1 EV"),
    (re.compile(r"\bde1_method\b"), "--de1-method"),
    (re.compile(r"\bpass vacuum spectra\b"), "--vacuum FILE..."),
)


class UserError(Exception):
    """An error in what the user asked for: one line, exit status 2."""


def one_line(message, limit=_MAX_CHARS):
    """``message`` on one line: whitespace collapsed, middle sentences dropped if long.

    The first sentence (what is wrong) and the last one (usually the fix) are
    always kept.

    Parameters
    ----------
    message : str
    limit : int, default=600

    Returns
    -------
    line : str

    Examples
    --------
    >>> one_line("No such file: 'a.msa'.\\n  Check the path.")
    "No such file: 'a.msa'. Check the path."
    """
    text = " ".join(str(message).split())
    if len(text) <= limit:
        return text
    sentences = re.split(r"(?<=[.;])\s+", text)
    head, tail = sentences[0], sentences[-1]
    kept = [head]
    for sentence in sentences[1:-1]:
        if len(" ".join([*kept, sentence, tail])) + 5 > limit:
            kept.append("(...)")
            break
        kept.append(sentence)
    return " ".join([*kept, tail]) if len(sentences) > 1 else text[:limit] + " (...)"


def with_option_hints(message):
    """``message`` plus the command-line options for the arguments it names."""
    hints = []
    for pattern, option in _OPTION_HINTS:
        match = pattern.search(message)
        if match:
            hint = option.format(*match.groups())
            if hint not in hints and hint not in message:
                hints.append(hint)
    if hints:
        message = f"{message.rstrip()} (command line: {', '.join(hints)})"
    return message


def describe(exc):
    """The one-line reason for an exception raised while running a command."""
    if isinstance(exc, ImportError) and "install" not in str(exc):
        # the package's own ImportErrors say what to install; a bare one does not
        return one_line(
            f"a module this needs cannot be imported ({exc}); reinstall sklearn-zlp "
            'with the extra it belongs to, e.g. pip install "sklearn-zlp[io]".'
        )
    text = str(exc) or type(exc).__name__
    if isinstance(exc, KeyError):  # str() of a KeyError is the quoted key alone
        text = f"missing entry {text}"
    return one_line(with_option_hints(text))
