"""Every safety module listed for mutation testing has a recorded kill rate at the floor
(scripts/mutation-scores.json, written by ``scripts/mutation.py --record``). A module added to
scripts/mutation.toml without a run fails here; a module changed since its record is run again by
``scripts/mutation.py --changed`` in scripts/test, which fails below the floor."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _script():
    spec = importlib.util.spec_from_file_location("mutation_script", ROOT / "scripts" / "mutation.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_every_listed_module_has_a_record_at_the_floor():
    script = _script()
    floor, groups = script.load_config()
    assert floor >= 0.9  # issue 17: at least 90% on the safety modules
    recorded = json.loads((ROOT / "scripts" / "mutation-scores.json").read_text())
    listed = [module for group in groups for module in group.modules]
    assert len(listed) >= 12
    missing = [m for m in listed if m not in recorded]
    assert not missing, f"no recorded score: {missing}; run scripts/mutation.py --record"
    below = {m: recorded[m]["kill_rate"] for m in listed if recorded[m]["kill_rate"] < floor}
    assert not below, f"below the {floor:.0%} floor: {below}"
    for module in listed:
        entry = recorded[module]
        assert 0 < entry["killed"] <= entry["mutants"]
        assert len(entry["digest"]) == 64
