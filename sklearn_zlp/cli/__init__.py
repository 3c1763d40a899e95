"""The ``sklearn-zlp`` command line.

``sklearn-zlp demo | subtract | bandgap | thickness | info``; ``sklearn-zlp
COMMAND --help`` for each. Building the parser imports argparse alone, and each
command imports what it needs when it runs, so ``--help`` is fast and ``info``
never imports torch. A user error prints one line ``sklearn-zlp: error: ...``
on stderr and exits with status 2 (130 on Ctrl-C), without a traceback unless
``--debug`` is given.
"""

import sys

from ._errors import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_USER,
    PROG,
    UserError,
    describe,
)
from ._parser import build_parser

__all__ = ["build_parser", "main"]

# Exceptions that mean "the input or the request is wrong", not "the code is":
# the package raises ValueError/TypeError with a reason and a fix for bad data,
# and the file system raises OSError subclasses for missing or unreadable files.
_USER_ERRORS = (UserError, ValueError, TypeError, OSError, ImportError)


def main(argv=None):
    """Run the ``sklearn-zlp`` command line.

    Parameters
    ----------
    argv : list of str, default=None
        Arguments without the program name; None reads ``sys.argv[1:]``.

    Returns
    -------
    status : int
        0 on success, 2 for a usage or input error, 130 when interrupted, 1 for
        an internal error (with ``--debug``: its traceback).

    Examples
    --------
    >>> from sklearn_zlp.cli import main
    >>> main(["--version"])  # doctest: +ELLIPSIS
    sklearn-zlp ...
    0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else EXIT_USER
    debug = getattr(args, "debug", False)
    try:
        return _run(args)
    except KeyboardInterrupt:
        if debug:
            raise
        _error("interrupted (Ctrl-C); files already written in the output folder stay")
        return EXIT_INTERRUPTED
    except _USER_ERRORS as exc:
        if debug:
            raise
        _error(describe(exc))
        return EXIT_USER
    except Exception as exc:
        if debug:
            raise
        _error(
            f"internal error ({type(exc).__name__}: {describe(exc)}); rerun with "
            "--debug for the traceback and report it with the command line used"
        )
        return EXIT_INTERNAL


def _error(reason):
    print(f"{PROG}: error: {reason}", file=sys.stderr, flush=True)


def _run(args):
    if args.command == "demo":
        from .._demo import run_demo

        run_demo(args.output, n_replicas=args.replicas, max_epochs=args.epochs)
        return 0
    if args.command == "info":
        from ._info import run_info

        return run_info(args)
    from ._job import run_job

    return run_job(args)
