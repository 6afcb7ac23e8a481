"""``ketaclinic pk validate``: the engine against every measured value it is checked on."""

from __future__ import annotations

import argparse
import importlib.metadata

from ketaclinic.pkpd.cli.args import EXIT_OK, UsageError
from ketaclinic.pkpd.cli.common import Streams
from ketaclinic.pkpd.cli.output import _dump_json


def engine_version() -> str:
    try:
        return importlib.metadata.version("ketaclinic")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def cmd_validate(args: argparse.Namespace, s: Streams) -> int:
    from ketaclinic.pkpd import validation
    from ketaclinic.pkpd.published import MODELS

    if args.model is not None and args.model.strip().lower() not in MODELS:
        raise UsageError(f"--model: unknown model {args.model!r}; valid names: {', '.join(MODELS)}")
    models = None if args.model is None else [args.model.strip().lower()]
    comparisons = validation.compare(models=models)
    if args.format == "json":
        _dump_json(
            {
                "comparisons": [c.to_dict() for c in comparisons],
                "racemic_ranking": validation.model_ranking(comparisons),
            },
            s.out,
        )
    elif args.format == "markdown":
        s.out.write(validation.markdown(comparisons, engine_version()))
    else:
        s.out.write(validation.table(comparisons) + "\n")
        for role in validation.ROLES:
            rows = [c for c in comparisons if c.measurement.role == role]
            s.out.write(f"{role}: {sum(c.passed for c in rows)} of {len(rows)} pass\n")
    return EXIT_OK
