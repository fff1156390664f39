"""The build run folder under stress: typed records and schema versions, corrupt state, run locks,
retrying failed items, a changed backend, secrets, and the per-category report."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ggt_hf.degrade import degrade
from ggt_hf.files.run_store import IncompatibleRunError, RunLayout, RunStore
from ggt_hf.pipeline.build import ConfigChangedError, build
from ggt_hf.pipeline.report import BuildReport
from ggt_hf.pipeline.run_lock import RunInUseError
from ggt_hf.records import AttemptRecord, ItemRecord, QCCheck

pytest.importorskip("ggt_hf.backends.classical")


@pytest.fixture(scope="module")
def small_photos(tmp_path_factory, photos) -> Path:
    root = tmp_path_factory.mktemp("small") / "photos"
    for i, category in enumerate(("rain", "haze", "low_light")):
        lq = degrade(np.asarray(photos[i].resize((160, 160))), category, seed=i).image
        (root / category).mkdir(parents=True)
        Image.fromarray(lq).save(root / category / f"p{i}.png")
    return root


def small_config(photo_dir: Path, out: Path, **backend):
    from ggt_hf.pipeline.config import BuildConfig

    return BuildConfig.from_dict(
        {
            "name": "t",
            "output": str(out),
            "sources": [{"path": str(photo_dir), "license": "cc0-1.0"}],
            "backend": {"name": "classical", "concurrency": 1, "base_delay": 0.0, **backend},
            "qc": {"metric_thresholds": {}, "max_attempts": 2},
            "image_size": 128,
            "min_side": 64,
            "workers": 1,
        }
    )


@pytest.fixture(scope="module")
def reference(small_photos, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("ref") / "run"
    build(small_config(small_photos, run), progress=False)
    return run


@pytest.fixture
def calls(monkeypatch) -> list[str]:
    """Item ids of every call that reached the (paid) backend."""
    from ggt_hf.backends.classical import ClassicalBackend

    made: list[str] = []
    original = ClassicalBackend.restore

    def counting(self, request):
        made.append(request.item_id)
        return original(self, request)

    monkeypatch.setattr(ClassicalBackend, "restore", counting)
    return made


def _dataset(run: Path) -> dict[str, bytes]:
    root = RunLayout(run).dataset_dir
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.parquet"))}


def _copy(reference: Path, tmp_path: Path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(reference, run)
    shutil.rmtree(run / "dataset")
    return run


def _accepted(run: Path) -> list[ItemRecord]:
    return [r for r in RunStore(run).records() if r.state == "accepted"]


# -- typed records, schema version --------------------------------------------------------------


def test_item_record_round_trip_and_relative_paths(reference):
    store = RunStore(reference)
    records = store.records()
    assert len(records) == 3 and all(r.schema == 2 for r in records)
    for record in records:
        assert ItemRecord.from_json(json.loads(json.dumps(record.to_json()))) == record
        assert not Path(record.lq_path).is_absolute() and store.layout.resolve(record.lq_path).is_file()
        for attempt in record.attempts:
            assert attempt.image is None or store.layout.resolve(attempt.image).is_file()
    old = {"id": "x", "category": "rain", "split": "train", "lq_path": "a.png", "state": "ingested"}
    assert ItemRecord.from_json(old).schema == 1  # written before the schema field: still readable
    with pytest.raises(ValueError, match="unknown field"):
        ItemRecord.from_json({**old, "colour": 1})


def test_incompatible_run_is_refused_with_the_reason(small_photos, reference, tmp_path):
    run = _copy(reference, tmp_path)
    info = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**info, "run_schema": 99, "ggt_hf_version": "9.0"}))
    with pytest.raises(
        IncompatibleRunError, match=r"ggt-hf 9.0 with run schema 99; this version reads schema ≤ 2"
    ):
        build(small_config(small_photos, run), progress=False)
    (run / "run.json").write_text(json.dumps(info))
    item = next(iter(RunStore(run).item_ids()))
    path = RunLayout(run).item(item)
    path.write_text(json.dumps({**json.loads(path.read_text()), "schema": 7}))
    with pytest.raises(IncompatibleRunError, match=f"{item}.json: record schema 7"):
        RunStore(run).read(item)


def test_report_counts_every_stage_an_item_reached():
    report = BuildReport()
    attempt = AttemptRecord(1, "p", 0, "c.png", [QCCheck("auto", "shift", False, 3.0, "moved")])
    report.add(ItemRecord("a", "rain", "train", "a.png"))
    report.add(ItemRecord("b", "rain", "train", "b.png", state="prompted", prompt="p"))
    report.add(ItemRecord("c", "rain", "train", "c.png", state="rejected", prompt="p", attempts=[attempt]))
    report.add(ItemRecord("d", "haze", "train", "d.png", state="failed", prompt="p"))
    assert "| haze | 1 | 1 | 0 | 0 | 1 |" in report.markdown()
    assert "| rain | 3 | 2 | 0 | 1 | 0 |" in report.markdown()
    assert report.failed == 1 and "--retry-failed" in report.markdown()


# -- corrupt state --------------------------------------------------------------------------------


def test_truncated_record_and_cache_entry_are_quarantined_and_redone(
    small_photos, reference, tmp_path, calls, caplog
):
    run = _copy(reference, tmp_path)
    layout = RunLayout(run)
    first, second = [r.id for r in _accepted(run)][:2]
    # first: record truncated, cache intact -> redone from the cache, no paid call
    layout.item(first).write_bytes(layout.item(first).read_bytes()[:40])
    # second: record and its cache entries truncated -> redone with one paid call
    candidates = {
        layout.resolve(a.image).read_bytes() for a in RunStore(run).read(second).attempts if a.image
    }
    layout.item(second).write_bytes(layout.item(second).read_bytes()[:40])
    truncated = [png for png in layout.cache_dir.rglob("*.png") if png.read_bytes() in candidates]
    for png in truncated:  # the cached response is byte for byte the candidate it became
        png.write_bytes(png.read_bytes()[:100])
    caplog.set_level(logging.WARNING)
    report = build(small_config(small_photos, run), progress=False)
    assert str(layout.item(first)) in caplog.text and "corrupt item record" in caplog.text
    assert str(truncated[0]) in caplog.text and "corrupt cache entry" in caplog.text
    assert truncated and calls == [second] * len(truncated)  # only the lost response is paid again
    assert len(list((layout.quarantine_dir / "items").glob("*"))) == 2
    assert _dataset(run) == _dataset(reference) and not report.problems


def test_truncated_accepted_candidate_is_redone_not_dropped(small_photos, reference, tmp_path, calls, caplog):
    from ggt_hf.pipeline.config import BuildConfig

    run = _copy(reference, tmp_path)
    record = _accepted(run)[0]
    png = RunLayout(run).resolve(record.final().image)
    png.write_bytes(png.read_bytes()[:200])
    config = small_config(small_photos, run)
    only_pack = build(config, stage="pack", progress=False)  # reported with the reason, item reset
    assert any(record.id in p and "quarantined" in p for p in only_pack.problems), only_pack.problems
    assert only_pack.packed == len(_accepted(reference)) - 1
    report = build(BuildConfig.from_dict(config.to_dict()), progress=False)  # redone from the cache
    assert not calls and not report.problems
    assert report.packed == len(_accepted(reference)) and _dataset(run) == _dataset(reference)


@pytest.mark.parametrize("stage", ["pack", "all"])
def test_a_bad_review_line_is_warned_about_once_per_build(small_photos, reference, tmp_path, caplog, stage):
    """``ggt build`` read ``review.jsonl`` for its pack, again for the re-pack after redoing a corrupt
    candidate, and again for its report: one bad line was warned about two or three times. The
    build now reads the log once and hands the decisions to its packs and its report."""
    run = _copy(reference, tmp_path)
    layout, accepted = RunLayout(run), _accepted(run)
    png = layout.resolve(accepted[0].final().image)
    png.write_bytes(png.read_bytes()[:200])  # stage all: pack, redo that item, pack again
    good = json.dumps({"id": accepted[1].id, "decision": "accept"}) + "\n"
    layout.review_file.write_text(good + "not a decision\n")
    caplog.set_level(logging.WARNING)
    report = build(small_config(small_photos, run), stage=stage, progress=False)
    redone = stage == "all"
    assert report.packed == len(_accepted(reference)) - (0 if redone else 1)  # the re-pack ran (or not)
    warned = [r.getMessage() for r in caplog.records if "not a review decision" in r.getMessage()]
    assert warned == [
        f"{layout.review_file}: skipped the line at byte {len(good)}: not a review decision "
        "(b'not a decision\\n')"
    ]
    assert report.review == {"accept": 1}


# -- retrying failed items, a changed backend ----------------------------------------------------


def test_failed_items_retry_and_backend_change_is_explained(small_photos, tmp_path):
    run = tmp_path / "run"
    outage = {"server_error": 1.0, "retry_after": None}
    failed = build(small_config(small_photos, run, faults=outage, retries=1), progress=False)
    assert failed.failed == 3 and "ggt build CONFIG --retry-failed" in failed.markdown()
    again = build(small_config(small_photos, run), progress=False)  # failed stays failed...
    assert again.failed == 3
    retried = build(small_config(small_photos, run), retry_failed=True, progress=False)  # ...until retried
    assert retried.failed == 0 and retried.packed > 0
    with pytest.raises(
        ConfigChangedError, match=r"from classical to classical \(model other\).*--retry-failed"
    ):
        build(small_config(small_photos, run, model_id="other"), progress=False)


# -- secrets --------------------------------------------------------------------------------------


def test_api_keys_never_reach_the_run_folder(small_photos, tmp_path, monkeypatch):
    from ggt_hf.backends.base import BackendError
    from ggt_hf.backends.classical import ClassicalBackend

    key = "sk-live-abcdefghijklmnop0123456789"

    def refuse(self, request):
        raise BackendError(request.item_id, f'401 {{"error": "Incorrect API key provided: {key}"}}')

    monkeypatch.setattr(ClassicalBackend, "restore", refuse)
    run = tmp_path / "run"
    config = small_config(small_photos, run, retries=1)
    report = build(config, progress=False)
    assert report.failed == 3 and key not in report.markdown()
    texts = [p.read_text(errors="ignore") for p in run.rglob("*.json*")]
    assert all(key not in t for t in texts)
    saved = json.loads((run / "build_config.json").read_text())
    assert saved["backend"]["name"] == "classical"
    assert any("Incorrect API key provided: ***" in t for t in texts)


def test_config_api_key_is_redacted_in_build_config(small_photos, tmp_path):
    run = tmp_path / "run"
    config = small_config(small_photos, run)
    config.backend.options = {"api_key": "AIzaSyA-secret-value-123456789"}
    build(config, stage="ingest", progress=False)
    saved = (run / "build_config.json").read_text()
    assert "secret-value" not in saved and json.loads(saved)["backend"]["options"]["api_key"] == "***"


def test_recorded_config_is_itself_a_config_from_any_folder(small_photos, tmp_path, monkeypatch):
    """build_config.json holds paths relative to the run folder, so `ggt build RUN/build_config.json
    --stage pack` finds the run and its sources wherever it is typed."""
    from ggt_hf.pipeline.config import BuildConfig

    monkeypatch.chdir(tmp_path)
    config = small_config(small_photos, "runs/a", retries=1)
    config.sources[0].path = os.path.relpath(config.sources[0].path, tmp_path)
    build(config, stage="ingest", progress=False)
    saved = json.loads((tmp_path / "runs/a/build_config.json").read_text())
    assert saved["output"] == "." and not os.path.isabs(saved["sources"][0]["path"])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    again = BuildConfig.from_yaml("../runs/a/build_config.json")
    assert Path(again.output) == tmp_path / "runs" / "a"
    assert Path(again.sources[0].path) == Path(small_photos).resolve()


# -- run lock -------------------------------------------------------------------------------------

_HOLD = """
import sys, time
from ggt_hf.pipeline.run_lock import RunLock
from ggt_hf.files.run_store import RunLayout
layout = RunLayout(sys.argv[1])
rank = sys.argv[2] if len(sys.argv) > 2 else None
with RunLock(layout.lock_file(), layout.lock_file(rank) if rank else None, rank):
    print("locked", flush=True)
    time.sleep(120)
"""


def _hold(run: Path, *rank: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_HOLD), str(run), *rank], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_second_run_is_refused_and_pays_nothing(small_photos, reference, tmp_path, calls):
    run = _copy(reference, tmp_path)
    for path in RunStore(run).item_ids():  # make work remain, so a run that went ahead would pay
        record = RunStore(run).read(path)
        RunStore(run).write(ItemRecord(record.id, record.category, record.split, record.lq_path))
    shutil.rmtree(RunLayout(run).cache_dir)
    holder = _hold(run)
    try:
        with pytest.raises(RunInUseError, match=rf"run in use by PID {holder.pid} on \S+ since \d{{4}}-"):
            build(small_config(small_photos, run), progress=False)
        with pytest.raises(RunInUseError):
            build(small_config(small_photos, run), stage="generate", rank=0, world_size=2, progress=False)
    finally:
        holder.kill()  # kill -9: the kernel releases the lock
        holder.wait()
    assert not calls
    build(small_config(small_photos, run), progress=False)
    assert calls


def test_ranks_run_side_by_side_but_not_twice(small_photos, reference, tmp_path):
    run = _copy(reference, tmp_path)
    holder = _hold(run, "rank-0-of-2")
    try:
        build(small_config(small_photos, run), stage="generate", rank=1, world_size=2, progress=False)
        with pytest.raises(RunInUseError, match="rank-0-of-2 of this run in use by PID"):
            build(small_config(small_photos, run), stage="generate", rank=0, world_size=2, progress=False)
        with pytest.raises(RunInUseError):  # a whole-run stage waits for every rank
            build(small_config(small_photos, run), stage="pack", progress=False)
    finally:
        holder.kill()
        holder.wait()


def test_cli_masks_secrets_in_logs_and_errors(capsys):
    import logging as logging_module

    from ggt_hf.cli import main
    from ggt_hf.runtime.redact import RedactingFilter

    handler = logging_module.StreamHandler()
    handler.addFilter(RedactingFilter())
    record = logging_module.LogRecord(
        "x", logging_module.WARNING, "", 0, "retrying: %s", ("Bearer sk-abcdefghijklmnop123",), None
    )
    assert handler.filter(record) and record.getMessage() == "retrying: Bearer ***"
    assert main(["build", "/no/such/config.yaml", "backend.options.api_key=sk-abcdefghijklmnop123"]) != 0
    assert "sk-abcdefghijklmnop123" not in capsys.readouterr().err


def test_build_into_a_users_folder_is_refused_before_any_work(photo_dir, make_config, tmp_path):
    """ATTACK 8: `ggt build` with output: myproj (the user's notes.md, report.md, items/mine.json)
    ran inside it and moved items/mine.json to quarantine/. Now the folder is claimed first: refused,
    naming the user's files, nothing moved or added; a run folder ggt made is still resumed."""
    from ggt_hf.files.output_folders import OutputFolderError

    myproj = tmp_path / "myproj"
    (myproj / "items").mkdir(parents=True)
    for rel, text in {"notes.md": "notes", "report.md": "report", "items/mine.json": '{"mine": 1}'}.items():
        (myproj / rel).write_text(text)
    before = sorted(p.relative_to(myproj).as_posix() for p in myproj.rglob("*"))
    with pytest.raises(OutputFolderError, match=r"items, notes\.md, report\.md"):
        build(make_config(photo_dir, myproj), stage="ingest", progress=False)
    assert sorted(p.relative_to(myproj).as_posix() for p in myproj.rglob("*")) == before
    assert (myproj / "items" / "mine.json").read_text() == '{"mine": 1}'

    run = tmp_path / "run"
    build(make_config(photo_dir, run), stage="ingest", progress=False)
    (run / ".ggt-output.json").unlink()  # a run made before runs were claimed: recognised by run.json
    build(make_config(photo_dir, run), stage="ingest", progress=False)
