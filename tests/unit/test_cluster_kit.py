"""The cluster tier's own helpers that need no cluster: what they read from files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from shopsys.devtools.errors import ProvisionError
from tests.cluster.kit.builds import kubernetes_go_mod
from tests.cluster.kit.images import debian_mirror
from tests.cluster.kit.teardown import cgroup_dirs

KUBERNETES_GO_MOD = """module k8s.io/kubernetes

go 1.24.0

require (
\tk8s.io/api v0.0.0
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/client-go => ./staging/src/k8s.io/client-go
%s)
"""


def test_the_wrapper_module_pins_every_staging_module_to_the_release() -> None:
    more = "".join(f"\tk8s.io/m{n} => ./staging/src/k8s.io/m{n}\n" for n in range(20))
    go_mod = kubernetes_go_mod(KUBERNETES_GO_MOD % more, "v1.34.4")
    assert "require k8s.io/kubernetes v1.34.4" in go_mod
    assert "replace k8s.io/client-go => k8s.io/client-go v0.34.4" in go_mod
    assert "replace k8s.io/m19 => k8s.io/m19 v0.34.4" in go_mod
    assert go_mod.count("replace ") == 22


def test_a_go_mod_without_staging_modules_is_an_error() -> None:
    with pytest.raises(ProvisionError, match="staging modules"):
        kubernetes_go_mod(KUBERNETES_GO_MOD % "", "v1.34.4")


def test_the_mirror_comes_from_deb822_sources(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.invalid/debian-security\nSuites: bookworm-security\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        "Types: deb\nURIs: http://mirror.invalid/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
    )
    assert debian_mirror(tmp_path) == "http://mirror.invalid/debian"


def test_the_mirror_comes_from_a_sources_list(tmp_path: Path) -> None:
    (tmp_path / "sources.list").write_text(
        "deb [arch=amd64] http://mirror.invalid/debian bookworm main\n"
    )
    assert debian_mirror(tmp_path) == "http://mirror.invalid/debian"


def test_no_mirror_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ProvisionError, match="no Debian bookworm mirror"):
        debian_mirror(tmp_path)


def test_cgroup_walk_survives_directories_removed_while_it_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kubelet removes pod cgroups while a teardown walks them; a vanished directory is
    skipped (rglob raised FileNotFoundError there and left the cluster running)."""
    for pod in ("pod-a/ctr-1", "pod-a/ctr-2", "pod-b/ctr-3"):
        (tmp_path / pod).mkdir(parents=True)
    real_scandir = os.scandir

    def scandir_while_the_kubelet_cleans_up(path: Any) -> Any:
        if isinstance(path, str | os.PathLike) and Path(path).name == "pod-a":
            for child in ("ctr-1", "ctr-2", ""):  # gone between being listed and being read
                (Path(path) / child).rmdir()
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir_while_the_kubelet_cleans_up)
    found = cgroup_dirs(tmp_path)

    assert found[-1] == tmp_path, "deepest first, the top last"
    assert tmp_path / "pod-b" / "ctr-3" in found
    assert not (tmp_path / "pod-a").exists()
