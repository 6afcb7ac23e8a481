"""Mutation testing of the safety-critical modules: does the suite notice when a rule is broken?

mutmut (https://mutmut.readthedocs.io) changes one small thing at a time in a module (``<`` to
``<=``, a number plus one, ``and`` to ``or``, a keyword argument dropped) and runs the tests that
reach the changed function. A mutant the tests fail on is killed; one they pass with survived, and
each survivor is a broken rule nobody would notice. The modules, grouped with the tests that guard
them, are listed in ``scripts/mutation.toml``; the floor (the share of mutants killed that every
module must reach) is there too.

Run from the repository root::

    .venv/bin/python scripts/mutation.py                    # every group; the report, exit 1 below the floor
    .venv/bin/python scripts/mutation.py --group ledger     # one group
    .venv/bin/python scripts/mutation.py --changed          # only modules changed since their recorded score
    .venv/bin/python scripts/mutation.py --record           # ... and record the scores that reach the floor
    .venv/bin/python scripts/mutation.py --show-survivors   # each surviving mutant as a diff

A module's record (``scripts/mutation-scores.json``) holds its score and a digest of its source and
of the tests of its group. ``--changed`` reruns a module whose digest no longer matches (the module
or its tests changed), so CI (``scripts/test``) checks exactly the safety modules a change touches;
``--record`` refuses to record a module below the floor.

Each group runs in a copy of the tree under ``.mutation/<group>/`` (mutmut writes its mutants
beside the code it copies), on SQLite, with a migrated test database copied for every pytest
session (``KETACLINIC_TEST_DB_TEMPLATE``, tests/conftest.py) instead of migrating each time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "scripts" / "mutation.toml"
SCORES = ROOT / "scripts" / "mutation-scores.json"
WORK = ROOT / ".mutation"

# What mutmut's exit codes mean (mutmut.stats.status_by_exit_code, repeated so that a report can be
# read without importing mutmut's configuration, which reads the current directory's pyproject).
KILLED = {1: "killed", 3: "killed", 36: "timeout", 37: "caught by type check", 24: "timeout",
          -24: "timeout", 152: "timeout", 255: "timeout"}  # fmt: skip
NOT_KILLED = {0: "survived", 5: "no tests", 33: "no tests", 35: "suspicious", -11: "segfault", -9: "segfault"}
SKIPPED = {34: "skipped"}


@dataclass(frozen=True)
class Group:
    name: str
    modules: tuple[str, ...]
    tests: tuple[str, ...]

    def test_files(self) -> list[Path]:
        """The test files of the group (its paths, without pytest options) and the shared fixtures."""
        files: set[Path] = {ROOT / "tests" / "conftest.py"}  # the fixtures every test stands on
        for arg in self.tests:
            if arg.startswith("-"):
                continue
            path = ROOT / arg
            files.update(path.rglob("*.py") if path.is_dir() else [path])
        return sorted(files)


@dataclass
class ModuleScore:
    module: str
    mutants: int = 0
    killed: int = 0
    survived: int = 0
    no_tests: int = 0
    timeout: int = 0
    other: int = 0
    survivors: list[str] = field(default_factory=list)

    @property
    def counted(self) -> int:
        return self.killed + self.survived + self.no_tests + self.other

    @property
    def score(self) -> float:
        return self.killed / self.counted if self.counted else 1.0


def load_config(path: Path = CONFIG) -> tuple[float, list[Group]]:
    data = tomllib.loads(path.read_text())
    floor = float(data["floor"])
    if not 0 < floor <= 1:
        raise SystemExit(f"{path}: floor must be a share between 0 and 1, not {floor}")
    groups = [Group(g["name"], tuple(g["modules"]), tuple(g["tests"])) for g in data["group"]]
    for group in groups:
        for module in group.modules:
            if not (ROOT / module).is_file():
                raise SystemExit(f"{path}: group {group.name} names {module}, which does not exist")
    return floor, groups


def digest(module: str, group: Group) -> str:
    """The module's source and its group's tests: a change to either means a new score is due."""
    h = hashlib.sha256()
    for path in [ROOT / module, *group.test_files()]:
        h.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def load_scores(path: Path) -> dict[str, dict[str, object]]:
    return json.loads(path.read_text()) if path.exists() else {}


def prepare(group: Group, modules: tuple[str, ...], work_root: Path) -> Path:
    """A fresh copy of the tree (tracked and new files, as they are on disk) configured for mutmut."""
    work = work_root / group.name
    shutil.rmtree(work, ignore_errors=True)
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "ketaclinic", "tests"],
        cwd=ROOT, check=True, capture_output=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, work / name)
    pyproject = (ROOT / "pyproject.toml").read_text()
    pytest_args = [
        "-p", "no:cacheprovider", "-q", "--no-header",
        # pytest-django would put the directory holding manage.py first on sys.path, and the tests
        # would import the unmutated code from there; mutmut puts its copy first itself.
        "-o", "django_find_project=false",
        "--reuse-db",  # with KETACLINIC_TEST_DB_TEMPLATE: start from the migrated copy
        "-m", "not browser and not slow",
    ]  # fmt: skip
    section = {
        "source_paths": ["ketaclinic"],
        "only_mutate": list(modules),
        "pytest_add_cli_args": pytest_args,
        # the modules too: their doctests are tests of the rules
        "pytest_add_cli_args_test_selection": [*group.tests, *modules],
    }
    lines = ["", "[tool.mutmut]"] + [f"{key} = {json.dumps(value)}" for key, value in section.items()]
    (work / "pyproject.toml").write_text(pyproject + "\n".join(lines) + "\n")
    return work


def run_group(
    group: Group, modules: tuple[str, ...], jobs: int, work_root: Path
) -> tuple[list[ModuleScore], float]:
    work = prepare(group, modules, work_root)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "MUTANT_UNDER_TEST")}
    env["KETACLINIC_TEST_DB_TEMPLATE"] = str(work / "template.sqlite3")
    env["KETACLINIC_DATA_DIR"] = str(work / "data")
    mutmut = Path(sys.executable).with_name("mutmut")
    log = work / "mutmut.log"
    started = time.monotonic()
    with log.open("w") as out:
        status = subprocess.run(
            [str(mutmut), "run", "--max-children", str(jobs)],
            cwd=work, env=env, stdout=out, stderr=out, check=False,
        ).returncode  # fmt: skip
    elapsed = time.monotonic() - started
    if status != 0 and "could not find any test case for any mutant" not in log.read_text():
        raise SystemExit(f"mutmut failed on group {group.name} (exit {status}); see {log}")
    return [read_module(work, module) for module in modules], elapsed


def read_module(work: Path, module: str) -> ModuleScore:
    meta = work / "mutants" / f"{module}.meta"
    if not meta.exists():
        raise SystemExit(f"mutmut left no results for {module}; see {work / 'mutmut.log'}")
    result = ModuleScore(module)
    # When the selected tests reach none of the mutated functions, mutmut stops before running any
    # mutant: every one of them is then a mutant no test would notice.
    untested = "could not find any test case for any mutant" in (work / "mutmut.log").read_text()
    for name, stored in sorted(json.loads(meta.read_text())["exit_code_by_key"].items()):
        code = 33 if stored is None and untested else stored
        if code is None:
            raise SystemExit(f"{name} was never run; the run is incomplete (see {work / 'mutmut.log'})")
        if code in SKIPPED:
            continue
        result.mutants += 1
        if code in KILLED:
            result.killed += 1
            result.timeout += KILLED[code] == "timeout"
        elif code == 0:
            result.survived += 1
            result.survivors.append(name)
        elif NOT_KILLED.get(code) == "no tests":
            result.no_tests += 1
            result.survivors.append(name)
        else:  # suspicious, a crash, or an exit code mutmut does not name: never counted as killed
            result.other += 1
            result.survivors.append(name)
    return result


def show(work: Path, name: str) -> str:
    mutmut = Path(sys.executable).with_name("mutmut")
    shown = subprocess.run(
        [str(mutmut), "show", name], cwd=work, capture_output=True, text=True, check=False
    ).stdout
    return "\n".join(
        line for line in shown.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")
    )


def report(scores: list[ModuleScore], floor: float) -> str:
    rows = [
        "| module | mutants | killed | survived | no tests | other | kill rate | floor |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for s in scores:
        verdict = "ok" if s.score >= floor else "BELOW"
        rows.append(
            f"| {s.module} | {s.mutants} | {s.killed} | {s.survived} | {s.no_tests} | {s.other} "
            f"| {s.score:.1%} | {verdict} |"
        )
    killed, counted = sum(s.killed for s in scores), sum(s.counted for s in scores)
    if counted:
        rows.append(f"| all | {sum(s.mutants for s in scores)} | {killed} | | | | {killed / counted:.1%} | |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--group", action="append", help="run this group only (repeatable)")
    parser.add_argument("--changed", action="store_true", help="only modules whose recorded digest differs")
    parser.add_argument("--record", action="store_true", help="record the scores that reach the floor")
    parser.add_argument("--show-survivors", action="store_true", help="print each surviving mutant's diff")
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 2, help="parallel mutants (default: cores)"
    )
    parser.add_argument("--json", type=Path, help="also write the results here as JSON")
    parser.add_argument("--config", type=Path, default=CONFIG, help="the groups and the floor")
    parser.add_argument("--scores", type=Path, default=SCORES, help="the recorded scores")
    parser.add_argument("--work", type=Path, default=WORK, help="where each group's copy of the tree goes")
    args = parser.parse_args(argv)

    floor, groups = load_config(args.config)
    if args.group:
        unknown = set(args.group) - {g.name for g in groups}
        if unknown:
            parser.error(f"no such group: {', '.join(sorted(unknown))} (see {args.config})")
        groups = [g for g in groups if g.name in args.group]
    recorded = load_scores(args.scores)
    plan = make_plan(groups, recorded, changed_only=args.changed)
    if not plan:
        print("scripts/mutation.py: every safety module matches its recorded score; nothing to run")
        return 0

    results: list[ModuleScore] = []
    for group, digests in plan:
        print(f"== mutation: {group.name}: {', '.join(digests)}", flush=True)
        scores, elapsed = run_group(group, tuple(digests), args.jobs, args.work)
        count = sum(s.mutants for s in scores)
        print(f"   {count} mutants in {elapsed:.0f} s ({count / elapsed:.2f} per second)", flush=True)
        results += scores
        if args.show_survivors:
            for s in scores:
                for name in s.survivors:
                    print(f"-- {name}\n{show(args.work / group.name, name)}")
        if args.record:
            record_scores(args.scores, scores, digests, floor)

    print(report(results, floor))
    if args.json:
        args.json.write_text(json.dumps([asdict(s) | {"kill_rate": s.score} for s in results], indent=2))
    below = [s.module for s in results if s.score < floor]
    if below:
        print(f"scripts/mutation.py: below the {floor:.0%} floor: {', '.join(below)}", file=sys.stderr)
        return 1
    return 0


def make_plan(
    groups: list[Group], recorded: dict[str, dict[str, object]], *, changed_only: bool
) -> list[tuple[Group, dict[str, str]]]:
    """Each group with the modules to run and their digests, taken before the tree is copied."""
    plan = []
    for group in groups:
        digests = {module: digest(module, group) for module in group.modules}
        if changed_only:
            digests = {m: d for m, d in digests.items() if recorded.get(m, {}).get("digest") != d}
        if digests:
            plan.append((group, digests))
    return plan


def record_scores(path: Path, scores: list[ModuleScore], digests: dict[str, str], floor: float) -> None:
    """Write the scores that reach the floor into the record, read afresh: another run may have
    recorded other modules meanwhile."""
    recorded = load_scores(path)
    for s in scores:
        if s.score < floor:
            print(f"   not recorded: {s.module} at {s.score:.1%} is below the floor", flush=True)
            continue
        recorded[s.module] = {
            "digest": digests[s.module],
            "kill_rate": round(s.score, 4),
            "mutants": s.mutants,
            "killed": s.killed,
            "recorded": datetime.now(UTC).date().isoformat(),
        }
    path.write_text(json.dumps(dict(sorted(recorded.items())), indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
