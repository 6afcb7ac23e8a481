"""``main``: parse the command line and run the command it names."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ketaclinic.pkpd.cli.args import EXIT_OK, EXIT_USAGE, PROG, UsageError, build_parser
from ketaclinic.pkpd.cli.common import Streams
from ketaclinic.pkpd.cli.compare_cmd import cmd_compare
from ketaclinic.pkpd.cli.models_cmd import cmd_models
from ketaclinic.pkpd.cli.simulate_cmd import cmd_simulate
from ketaclinic.pkpd.cli.validate_cmd import cmd_validate


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``ketaclinic pk`` with ``argv`` (without the program name); return the exit status."""
    streams = Streams(sys.stdout, sys.stderr)
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:  # argparse exits on --help and on usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        if args.command == "models":
            return cmd_models(args, streams)
        if args.command == "simulate":
            return cmd_simulate(args, streams)
        if args.command == "validate":
            return cmd_validate(args, streams)
        return cmd_compare(args, streams)
    except UsageError as exc:
        streams.err.write(f"{PROG} {args.command}: error: {exc}\n")
        return EXIT_USAGE
    except BrokenPipeError:  # e.g. `| head`: not an error of ours
        return EXIT_OK
