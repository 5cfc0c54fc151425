"""The provisioning cache: atomic, marker-checked entries like `<cache>/kafka-4.1.1/`."""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from ..errors import ProvisionError
from .build import BuildContext, Progress, format_duration
from .toolchain import require_go

CACHE_ENV = "SHOPSYS_CACHE_DIR"
# The Go compiler collects its garbage a quarter as often: cold builds of kube-router on 2
# cores took 156 and 179 s against 177 and 190 s. Memory is not what these builds lack.
GO_BUILD_ENV = {"GOGC": "400"}
MARKER = ".complete"
BUILD_LOG = "build.log"


def default_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """`$SHOPSYS_CACHE_DIR` if set (and not empty), else `~/.cache/shopsys`."""
    configured = (env if env is not None else os.environ).get(CACHE_ENV, "").strip()
    if configured:
        return Path(configured).expanduser().resolve()
    return Path.home() / ".cache" / "shopsys"


def read_marker(entry: Path) -> dict[str, str] | None:
    try:
        data = json.loads((entry / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_complete(entry: Path, fingerprint: str) -> bool:
    """True when `entry` was fully built for this `fingerprint` (pins + recipe)."""
    marker = read_marker(entry)
    return marker is not None and marker.get("fingerprint") == fingerprint


@contextmanager
def _exclusive(lock_path: Path, progress: Progress, what: str) -> Iterator[None]:
    with lock_path.open("a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress(f"waiting for another process that is provisioning {what}...")
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def cached_build(
    cache_dir: Path,
    name: str,
    fingerprint: str,
    build: Callable[[BuildContext], None],
    progress: Progress,
    *,
    what: str,
    start_message: str,
    preflight: Callable[[], object] | None = None,
) -> Path:
    """Return `<cache_dir>/<name>`, building it first if it is not complete.

    The builder fills a temp dir next to the entry; a marker is written last and the dir is
    renamed into place, so an interrupted build never looks complete. A file lock makes
    concurrent sessions wait for one build instead of all building. `preflight` (e.g. the
    toolchain checks) runs only when a build is needed.
    """
    entry = cache_dir / name
    if is_complete(entry, fingerprint):
        return entry
    if preflight is not None:
        preflight()
    cache_dir.mkdir(parents=True, exist_ok=True)
    with _exclusive(cache_dir / f".{name}.lock", progress, what):
        if is_complete(entry, fingerprint):  # built by someone else while we waited
            return entry
        for stale in cache_dir.glob(f".{name}.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=cache_dir))
        failed_log = cache_dir / f"{name}.failed.log"
        started = time.monotonic()
        progress(start_message)
        try:
            build(BuildContext(out_dir=tmp, log_path=tmp / BUILD_LOG, progress=progress))
            marker = {"fingerprint": fingerprint, "built_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
            (tmp / MARKER).write_text(json.dumps(marker) + "\n")
            tmp.chmod(0o755)  # mkdtemp makes it 0700
            if entry.exists():  # incomplete or outdated: replace it
                shutil.rmtree(entry)
            os.rename(tmp, entry)
        except BaseException as exc:
            if (tmp / BUILD_LOG).exists():
                shutil.copyfile(tmp / BUILD_LOG, failed_log)
            shutil.rmtree(tmp, ignore_errors=True)
            if type(exc) is ProvisionError and failed_log.exists():
                raise ProvisionError(f"{exc}\n(full log: {failed_log})") from exc
            raise
        failed_log.unlink(missing_ok=True)
        progress(f"{what} ready in {format_duration(time.monotonic() - started)}: {entry}")
        return entry


def cached_go_build(
    cache_dir: Path,
    name: str,
    version: str,
    fingerprint: str,
    build: Callable[[BuildContext, str], None],
    progress: Progress,
    *,
    purpose: str,
    label: str | None = None,
    takes: str = "a few minutes",
) -> Path:
    """`cached_build` of `<cache_dir>/<name>-<version>` by a builder that gets the go binary;
    every step it runs gets `GO_BUILD_ENV`.

    `purpose` says, if Go is missing or too old, what it was needed for.
    """
    what = f"{label or name} {version}"
    return cached_build(
        cache_dir,
        f"{name}-{version}",
        fingerprint,
        lambda ctx: build(dataclasses.replace(ctx, env=GO_BUILD_ENV), require_go(purpose)),
        progress,
        what=what,
        start_message=f"building {what} with Go (first run only, {takes})...",
        preflight=lambda: require_go(purpose),
    )
