"""Where the tests write what they measure, and how the committed snapshots are refreshed.

A run writes under ``test-results/<tier>/`` at the repository root (git ignores it;
``SHOPSYS_RESULTS_DIR`` moves it), so running the tests never changes a tracked file. The
figures and pictures the docs show are the committed snapshots in ``tests/<tier>/results/``.
``python -m tests.results [RUN_DIR]`` copies a run's files over them: by default this
checkout's latest run; give the ``test-results`` folder of a fresh clone's run to commit what
a clean run measured.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Literal, get_args

Tier = Literal["integration", "cluster", "perf"]
ROOT = Path(__file__).resolve().parents[1]


def run_dir() -> Path:
    return Path(os.environ.get("SHOPSYS_RESULTS_DIR") or ROOT / "test-results")


def result_file(tier: Tier, name: str) -> Path:
    """Where this run writes ``name`` of ``tier`` (its folder made)."""
    folder = run_dir() / tier
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def snapshot_dir(tier: Tier) -> Path:
    return ROOT / "tests" / tier / "results"


def refresh(source: Path) -> list[tuple[Path, Path]]:
    """Copy every file a run wrote under ``source`` to its tier's snapshot folder."""
    copied = []
    for tier in get_args(Tier):
        for file in sorted((source / tier).glob("*")):
            if file.is_file():
                target = snapshot_dir(tier) / file.name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(file, target)
                copied.append((file, target))
    return copied


def main(argv: list[str]) -> int:
    if len(argv) > 1 or argv[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    source = Path(argv[0]) if argv else run_dir()
    copied = refresh(source) if source.is_dir() else []
    if not copied:
        print(f"no results under {source}: run the tests first", file=sys.stderr)
        return 1
    for file, target in copied:
        print(f"{target.relative_to(ROOT)} <- {file}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
