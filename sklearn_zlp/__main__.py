"""Command line: ``python -m sklearn_zlp demo [--output DIR]``."""

import argparse
import sys


def main(argv=None):
    """Run the sklearn-zlp command line."""
    parser = argparse.ArgumentParser(prog="sklearn-zlp", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the main job on the bundled WS2 spectra")
    demo.add_argument("--output", default="demo_output", help="folder for plots and tables")
    demo.add_argument("--replicas", type=int, default=100, help="Monte Carlo replicas")
    demo.add_argument("--epochs", type=int, default=3000, help="training epochs")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from ._demo import run_demo

        run_demo(args.output, n_replicas=args.replicas, max_epochs=args.epochs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
