"""Third-party backends and VLM clients registered through entry points are found, including one
installed after the registry was first read (the scan is cached until a ``sys.path`` folder changes)."""

from __future__ import annotations

import os

from ggt_hf.backends import BACKENDS, available_backends, available_vlms
from ggt_hf.restore.spec import parse_judge, parse_restorer


def _install(site, name: str, entries: dict[str, dict[str, str]]) -> None:
    """A distribution ``name`` in the folder ``site``, as pip leaves it: ``*.dist-info`` with its
    ``entry_points.txt``; then the folder's time moves on, as it does on a later install."""
    info = site / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    groups = [
        f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in items.items()) for group, items in entries.items()
    ]
    (info / "entry_points.txt").write_text("\n".join(groups))
    later = os.stat(site).st_mtime_ns + 10**9
    os.utime(site, ns=(later, later))


def test_an_entry_point_installed_later_is_found(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    assert "acme-restore" not in available_backends()
    with_none = parse_restorer("acme-restore")  # not registered (yet): a registry name or repo
    assert with_none.kind == "restorer"

    _install(site, "acme", {"ggt_hf.backends": {"acme-restore": "acme.restore:Backend"}})
    assert "acme-restore" in available_backends()
    assert parse_restorer("acme-restore:v2") == type(with_none)(
        "acme-restore:v2", "backend", "acme-restore", "v2"
    )

    _install(site, "acme_vlm", {"ggt_hf.vlms": {"acme-judge": "acme.judge:VLM"}})
    assert "acme-judge" in available_vlms() and parse_judge("acme-judge").vlm == "acme-judge"


def test_a_built_in_name_is_not_replaced_by_an_entry_point(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    _install(site, "evil", {"ggt_hf.backends": {"classical": "evil:Backend", "extra": "evil:Other"}})
    from ggt_hf.backends import _registered

    registry = _registered("ggt_hf.backends", BACKENDS)
    assert registry["classical"] == BACKENDS["classical"] and registry["extra"] == "evil:Other"
