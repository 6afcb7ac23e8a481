"""``ketaclinic pk models``: the registered models, their parameters and citations."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from ketaclinic.pkpd.cli.args import EXIT_OK
from ketaclinic.pkpd.cli.common import Streams, _import_engine
from ketaclinic.pkpd.cli.output import _dump_json
from ketaclinic.pkpd.text import fmt_num


def model_rows(engine: Any) -> list[dict[str, Any]]:
    """One plain dict per registered model, for the table and for JSON."""
    return [model_to_dict(engine.MODELS[name]) for name in engine.MODELS]


def _param_dict(p: Any) -> dict[str, Any]:
    return {"value": p.value, "unit": p.unit, "status": p.status, "source": p.source}


def model_to_dict(m: Any) -> dict[str, Any]:
    """A JSON-ready view of a model record: citation, population, ranges, values and status."""
    routes: dict[str, Any] = {}
    for route, absorption in m.routes.items():
        if absorption is None:
            routes[route] = None
        else:
            routes[route] = {
                "bioavailability": _param_dict(absorption.bioavailability),
                "ka_per_min": _param_dict(absorption.ka_per_min),
            }
    return {
        "name": m.name,
        "title": m.title,
        "drug": m.drug,
        "citation": m.citation,
        "reference_id": m.reference_id,
        "population": m.population,
        "sampling_site": m.sampling_site,
        "age_range_yr": list(m.age_range_yr),
        "weight_range_kg": list(m.weight_range_kg),
        "range_status": m.range_status,
        "structure": m.structure,
        "n_compartments": m.n_compartments,
        "covariates": m.covariates,
        "params": {k: _param_dict(p) for k, p in m.params.items()},
        "ke0_per_min": _param_dict(m.ke0_per_min),
        "iiv_cv": {k: _param_dict(p) for k, p in m.iiv_cv.items()},
        "routes": routes,
        "assumed": list(m.assumed()),
        "notes": list(m.notes),
    }


def cmd_models(args: argparse.Namespace, s: Streams) -> int:
    engine = _import_engine()
    rows = model_rows(engine)
    if args.format == "json":
        _dump_json({"models": rows}, s.out)
        return EXIT_OK
    for row in rows:
        s.out.write(describe_model(row) + "\n\n")
    s.out.write(f"{len(rows)} models. `--format json` gives every value with its unit, status and source.\n")
    return EXIT_OK


def describe_model(row: Mapping[str, Any]) -> str:
    """A few readable lines for one model (the output of :func:`model_to_dict`)."""
    age, weight = row["age_range_yr"], row["weight_range_kg"]
    ranges = f"age {age[0]:g}-{age[1]:g} years, weight {weight[0]:g}-{weight[1]:g} kg ({row['range_status']})"
    ke0 = row["ke0_per_min"]
    fields = [
        ("drug", row["drug"]),
        ("routes", ", ".join(row["routes"])),
        ("population", row["population"]),
        ("sampling", row["sampling_site"]),
        ("valid ranges", ranges),
        ("covariates", row["covariates"]),
        ("ke0", f"{fmt_num(ke0['value'])} /min ({ke0['status']}): {ke0['source']}"),
        ("citation", f"{row['citation']} [{row['reference_id']}]"),
    ]
    lines = [f"{row['name']}: {row['title']}"]
    lines += [f"  {label + ':':<14}{value}" for label, value in fields]
    n_assumed = len(row["assumed"])
    if n_assumed:
        lines.append(f"  {'assumed:':<14}{n_assumed} value(s) not published, see --format json")
    return "\n".join(lines)
