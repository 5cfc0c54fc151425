"""Every relative link in the project's Markdown files points at a file that exists, and a
link to a heading (``file.md#heading`` or ``#heading``) at a heading that exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SKIPPED = {"node_modules", "build", "test-results"}
DOCS = sorted(
    path
    for path in ROOT.rglob("*.md")
    if not any(part.startswith(".") or part in SKIPPED for part in path.relative_to(ROOT).parts)
    and "egg-info" not in str(path)
)
LINK = re.compile(r"\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*$", re.MULTILINE)
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def anchors(doc: Path) -> set[str]:
    """The anchors GitHub makes of a document's headings: lower case, punctuation dropped,
    spaces as hyphens, a repeated one numbered."""
    seen: dict[str, int] = {}
    found = set()
    for heading in HEADING.findall(FENCE.sub("", doc.read_text())):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc: Path) -> None:
    broken = []
    for target in LINK.findall(FENCE.sub("", doc.read_text())):
        if re.match(r"^[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        linked = doc.parent / path if path else doc
        if not linked.exists() or (
            anchor and linked.suffix == ".md" and anchor not in anchors(linked)
        ):
            broken.append(target)
    assert not broken, f"{doc.relative_to(ROOT)}: {broken}"


def test_anchors_follow_the_github_rule() -> None:
    assert {"test-it", "what-an-answer-means", "run-it"} <= anchors(ROOT / "README.md")


REPO_PATH = re.compile(r"`((?:src|tests|chart|docs)/[\w./*-]+)`")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_repository_paths_named_in_backquotes_exist(doc: Path) -> None:
    """A file or folder of the repository named in a doc (`src/...`, `tests/...`, `chart/...`,
    `docs/...`; a * matches) exists: the docs describe the tree as it is."""
    missing = [
        named
        for named in REPO_PATH.findall(doc.read_text())
        if not any(ROOT.glob(named.rstrip("/")))
    ]
    assert not missing, f"{doc.relative_to(ROOT)}: {missing}"
