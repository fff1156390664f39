"""The indexed review queue: several reviewers merge, the index follows the log, typed records."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from ggt_hf.files.run_store import RunLayout, RunStore
from ggt_hf.qc.review import DECISIONS, DecisionLog, ReviewItem, ReviewQueue, read_decisions
from ggt_hf.records import AttemptRecord, ItemRecord, QCCheck


@pytest.fixture
def run(tmp_path):
    store = RunStore(tmp_path / "run", create=True)
    layout = store.layout
    for k in range(5):
        item_id = f"i{k}"
        lq = f"ingest/0/{item_id}.png"
        for path, colour in ((lq, 0), (RunLayout.candidate(item_id, 1), 9)):
            layout.resolve(path).parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (8, 8), (colour,) * 3).save(layout.resolve(path))
        hq = RunLayout.candidate(item_id, 1)
        accepted = k != 3  # i3 was rejected by the automatic QC: never reviewed
        attempt = AttemptRecord(1, "fix", 0, hq, [QCCheck("auto", "shift", True, 0.1)], accepted=accepted)
        state = "accepted" if accepted else "rejected"
        store.write(
            ItemRecord(
                item_id,
                "rain",
                "train",
                lq,
                state,
                prompt="fix",
                attempts=[attempt],
                final_attempt=1 if accepted else None,
            )
        )
    return layout.root


def test_reviewers_merge_and_the_index_follows_the_log(run):
    alice, bob = ReviewQueue(run), ReviewQueue(run)
    assert alice.pending().ids == ["i0", "i1", "i2", "i4"]
    alice.decide("i0", "accept", reviewer="alice")
    bob.decide("i1", "reject", "face changed", reviewer="bob")
    assert alice.pending().ids == bob.pending().ids == ["i2", "i4"]
    assert alice.next_pending(after="i2").id == "i4" and alice.next_pending(after="i4").id == "i2"
    bob.decide("i0", "reject", "second look: halo")  # a later decision wins, counts follow
    assert alice.progress() == {"reviewed": 2, "total": 4, "accepted": 0, "rejected": 2, "pending": 2}
    item = alice.pending()[0]
    assert item.id == "i2" and item.hq_path.is_file() and item.checks[0]["name"] == "shift"
    with pytest.raises(KeyError, match="i3"):
        alice.decide("i3", "accept")


def test_a_torn_line_from_another_writer_waits_until_complete(run):
    queue = ReviewQueue(run)
    line = json.dumps({"id": "i2", "decision": "accept", "reason": None, "reviewer": "x", "time": 1.0})
    log = RunLayout(run).review_file
    log.write_text(line[:20])  # another reviewer's append, half-way
    assert "i2" in queue.pending().ids
    log.write_text(line + "\n")
    assert "i2" not in queue.pending().ids and queue.decisions()["i2"]["reviewer"] == "x"


def test_a_line_that_is_not_a_decision_is_skipped_with_a_warning(run, caplog):
    """A line of ``review.jsonl`` that is not a decision (torn by a crash and appended after, edited
    by hand, an unknown decision) costs that line, with a warning naming the file and offset; the
    queue and the pack's reader (one reader for both) go on and agree."""
    good = {"id": "i0", "decision": "accept", "reason": None, "reviewer": "x", "time": 1.0}
    maybe = {**good, "id": "i1", "decision": "maybe"}
    RunLayout(run).review_file.write_text(
        '{"id": "torn\n' + json.dumps(maybe) + "\n" + json.dumps(good) + "\n"
    )
    queue = ReviewQueue(run)
    assert queue.pending().ids == ["i1", "i2", "i4"] and queue.progress()["accepted"] == 1
    assert dict(read_decisions(RunLayout(run))) == queue.decisions() == {"i0": good}
    assert "review.jsonl: skipped the line at byte 0" in caplog.text
    assert "review.jsonl: skipped the line at byte 13" in caplog.text


# -- the decision log: the one reader of review.jsonl -------------------------------------------


def _line(item_id: str, decision: str = "accept", **extra) -> bytes:
    row = {"id": item_id, "decision": decision, "reason": None, "reviewer": None, "time": 1.0, **extra}
    return (json.dumps(row) + "\n").encode()


def test_a_missing_log_has_no_rows_and_was_not_replaced(tmp_path):
    log = DecisionLog(tmp_path / "review.jsonl")
    assert list(log.rows()) == [] and log.offset == 0 and not log.replaced()


def test_the_log_is_read_once_in_order_up_to_the_last_complete_line(tmp_path):
    path = tmp_path / "review.jsonl"
    first, second = _line("a"), _line("b", "reject", reason="halo")
    path.write_bytes(first + second + b'{"id": "c", "deci')
    log = DecisionLog(path)
    assert [r["id"] for r in log.rows()] == ["a", "b"]
    assert log.offset == len(first + second)  # at a line boundary, before the torn line
    assert list(log.rows()) == []  # nothing new: nothing read twice, the torn line still waits
    path.write_bytes(first + second + _line("c"))
    assert [r["id"] for r in log.rows()] == ["c"] and log.offset == path.stat().st_size
    assert not log.replaced()


def test_a_log_stopped_half_way_resumes_at_the_line_it_stopped_at(tmp_path):
    path = tmp_path / "review.jsonl"
    path.write_bytes(_line("a") + _line("b") + _line("c"))
    log = DecisionLog(path)
    rows = log.rows()
    assert next(rows)["id"] == "a"
    rows.close()  # a reader that stopped after one row
    assert log.offset == len(_line("a"))
    assert [r["id"] for r in log.rows()] == ["b", "c"]


def test_a_shorter_log_was_replaced(tmp_path):
    path = tmp_path / "review.jsonl"
    path.write_bytes(_line("a") + _line("b"))
    log = DecisionLog(path)
    list(log.rows())
    path.write_bytes(_line("a") + _line("b"))  # rewritten, same size
    assert not log.replaced()
    path.write_bytes(_line("a") + _line("b") + _line("c"))
    assert not log.replaced()
    path.write_bytes(_line("z"))
    assert log.replaced()
    path.unlink()
    assert not log.replaced()


def test_blank_lines_and_line_separators_inside_strings(tmp_path, caplog):
    """Lines end at b"\\n" only: a reason holding U+2028 or a carriage return is one line; blank
    lines are skipped silently."""
    path = tmp_path / "review.jsonl"
    reason = "ghost\u2028edge\rline"
    path.write_bytes(b"\n  \n" + _line("a", "reject", reason=reason) + b"\r\n" + _line("b"))
    rows = list(DecisionLog(path).rows())
    assert [(r["id"], r["reason"]) for r in rows] == [("a", reason), ("b", None)]
    assert not caplog.records


#: review.jsonl lines that are not decision rows: hand edits, other tools, a crash, an attacker.
HOSTILE = {
    "not json": b"accept i0",
    "a torn line followed by more": b'{"id": "i0", "deci',
    "a list": b'["i0", "accept"]',
    "a string": b'"i0"',
    "null": b"null",
    "no id": b'{"decision": "accept"}',
    "an int id": b'{"id": 0, "decision": "accept"}',
    "a null id": b'{"id": null, "decision": "accept"}',
    "no decision": b'{"id": "i0"}',
    "an unknown decision": b'{"id": "i0", "decision": "maybe"}',
    "a decision in capitals": b'{"id": "i0", "decision": "ACCEPT"}',
    "a list decision": b'{"id": "i0", "decision": ["accept"]}',
    "not utf-8": b'{"id": "i0", "decision": "accept", "reason": "\xff\xfe"}',
    "a NUL byte": b"\x00",
    "nested too deep": b"[" * 100_000,
    "very long": b'{"id": "i0", "decision": "accept", "pad": ' + b"9" * 100_000,
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_line_costs_that_line_with_a_warning(tmp_path, caplog, name):
    path = tmp_path / "review.jsonl"
    bad = HOSTILE[name] + b"\n"
    path.write_bytes(_line("a") + bad + _line("b"))
    log = DecisionLog(path)
    assert [r["id"] for r in log.rows()] == ["a", "b"] and log.offset == path.stat().st_size
    (warning,) = caplog.records
    assert warning.levelname == "WARNING"
    assert warning.getMessage() == (
        f"{path}: skipped the line at byte {len(_line('a'))}: not a review decision ({repr(bad)[:80]})"
    )


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_line_does_not_stop_the_queue_or_the_pack(run, name, caplog):
    """The queue and the pack's reader (read_decisions) agree on every hostile line."""
    log = RunLayout(run).review_file
    log.write_bytes(_line("i1", "reject", reason="halo") + HOSTILE[name] + b"\n" + _line("i2"))
    queue = ReviewQueue(run)
    assert queue.pending().ids == ["i0", "i4"]
    assert queue.progress() == {"reviewed": 2, "total": 4, "accepted": 1, "rejected": 1, "pending": 2}
    assert dict(read_decisions(RunLayout(run))) == queue.decisions()
    queue.decide("i0", "accept")  # and the next decision is recorded as usual
    assert queue.pending().ids == ["i4"] and read_decisions(RunLayout(run))["i0"]["decision"] == "accept"


# -- the latest decision per item ------------------------------------------------------------------


def test_read_decisions_keeps_the_last_line_per_id(tmp_path):
    layout = RunLayout(tmp_path)
    assert len(read_decisions(layout)) == 0 and read_decisions(layout).counts() == {}
    layout.review_file.write_bytes(
        _line("b", "reject", reason="halo")
        + _line("a")
        + _line("b", "accept", reviewer="second look")
        + _line("c", "reject", reason="blur")
        + _line("a", "reject", reason="face")
    )
    decisions = read_decisions(layout)
    assert list(decisions) == ["a", "b", "c"] and len(decisions) == 3
    assert decisions["a"] == json.loads(_line("a", "reject", reason="face"))
    assert decisions["b"]["reviewer"] == "second look" and decisions["b"]["decision"] == "accept"
    assert decisions.counts() == {"accept": 1, "reject": 2}
    assert "zz" not in decisions
    with pytest.raises(KeyError, match="zz"):
        decisions["zz"]


def test_later_decisions_override_earlier_ones_in_order(run):
    queue, other = ReviewQueue(run), ReviewQueue(run)
    sequence = [("i0", "accept"), ("i0", "reject"), ("i1", "reject"), ("i0", "accept"), ("i1", "accept")]
    for k, (item_id, decision) in enumerate(sequence):
        (queue if k % 2 else other).decide(item_id, decision, reason=f"r{k}")
    for q in (queue, other, ReviewQueue(run)):
        assert {i: r["decision"] for i, r in q.decisions().items()} == {"i0": "accept", "i1": "accept"}
        assert q.decisions()["i0"]["reason"] == "r3"
        assert q.progress() == {"reviewed": 2, "total": 4, "accepted": 2, "rejected": 0, "pending": 2}
        assert q.item("i1").decision == "accept" and q.item("i1").reason == "r4"


def test_decisions_for_items_not_awaiting_review_are_kept_but_not_counted(run):
    """A decision for an item the automatic QC rejected (i3) or that is not in the run any more:
    the log keeps it, but it neither counts as reviewed nor changes what is pending."""
    RunLayout(run).review_file.write_bytes(_line("i3") + _line("gone", "reject", reason="x") + _line("i3"))
    queue = ReviewQueue(run)
    assert queue.pending().ids == ["i0", "i1", "i2", "i4"]
    assert queue.progress() == {"reviewed": 0, "total": 4, "accepted": 0, "rejected": 0, "pending": 4}
    assert set(queue.decisions()) == {"i3", "gone"}
    assert not queue.is_pending("i3") and not queue.is_pending("gone")
    with pytest.raises(KeyError, match="'i3' is not awaiting review in"):
        queue.item("i3")


def test_a_replaced_log_is_read_again_from_the_start(run):
    queue = ReviewQueue(run)
    queue.decide("i0", "accept")
    queue.decide("i1", "accept")
    queue.decide("i2", "reject", "halo")
    RunLayout(run).review_file.write_bytes(_line("i4", "reject", reason="blur"))  # shorter: replaced
    assert queue.pending().ids == ["i0", "i1", "i2"]
    assert queue.progress() == {"reviewed": 1, "total": 4, "accepted": 0, "rejected": 1, "pending": 3}
    assert list(queue.decisions()) == ["i4"]


# -- undecided items: pending, next, resume -------------------------------------------------------


def test_next_pending_walks_the_undecided_items_in_order_and_wraps(run):
    queue = ReviewQueue(run)
    assert queue.next_pending().id == "i0"
    assert queue.next_pending(after="i0").id == "i1"
    assert queue.next_pending(after="i1a").id == "i2"  # after an id that is not pending
    assert queue.next_pending(after="i4").id == "i0"  # wraps round
    assert queue.next_pending(after="").id == "i0"
    queue.decide("i0", "accept")
    queue.decide("i4", "accept")
    assert queue.next_pending().id == "i1" and queue.next_pending(after="i2").id == "i1"
    for item_id in ("i1", "i2"):
        assert queue.is_pending(item_id)
        queue.decide(item_id, "reject", "halo")
        assert not queue.is_pending(item_id)
    assert queue.next_pending() is None and queue.next_pending(after="i1") is None
    assert queue.pending().ids == [] and queue.progress()["reviewed"] == 4


def test_pending_items_are_a_snapshot_read_on_access(run):
    queue = ReviewQueue(run)
    pending = queue.pending()
    assert len(pending) == 4 and [i.id for i in pending] == ["i0", "i1", "i2", "i4"]
    assert pending[-1].id == "i4" and [i.id for i in pending[1:3]] == ["i1", "i2"]
    ids = pending.ids
    ids.clear()  # a copy: changing it changes nothing
    queue.decide("i1", "accept")
    assert pending.ids == ["i0", "i1", "i2", "i4"] and queue.pending().ids == ["i0", "i2", "i4"]


def test_an_item_shows_its_record_and_its_latest_decision(run):
    queue = ReviewQueue(run)
    layout = RunLayout(run)
    item = queue.item("i2")
    assert item == ReviewItem(
        id="i2",
        category="rain",
        lq_path=layout.resolve("ingest/0/i2.png"),
        hq_path=layout.resolve(RunLayout.candidate("i2", 1)),
        prompt="fix",
        checks=[{"stage": "auto", "name": "shift", "passed": True, "value": 0.1, "reason": None}],
    )
    queue.decide("i2", "reject", "colour shift", reviewer="ana")
    assert (queue.item("i2").decision, queue.item("i2").reason) == ("reject", "colour shift")
    assert [(i.id, i.decision) for i in queue.items()] == [
        ("i0", None),
        ("i1", None),
        ("i2", "reject"),
        ("i4", None),
    ]


def test_decide_validates_before_writing_anything(run):
    queue = ReviewQueue(run)
    log = RunLayout(run).review_file
    with pytest.raises(ValueError, match=r"decision must be one of \('accept', 'reject'\), got 'maybe'"):
        queue.decide("i0", "maybe")
    for reason in (None, ""):
        with pytest.raises(ValueError, match=r"^a rejection needs a reason$"):
            queue.decide("i0", "reject", reason)
    with pytest.raises(KeyError, match=r"'i3' is not awaiting review in .*run"):
        queue.decide("i3", "accept")
    assert not log.exists() and queue.is_pending("i0")
    queue.decide("i0", "accept")  # an acceptance needs no reason
    (row,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert {k: v for k, v in row.items() if k != "time"} == {
        "id": "i0",
        "decision": "accept",
        "reason": None,
        "reviewer": None,
    }
    assert isinstance(row["time"], float) and row["time"] > 1.7e9


@pytest.mark.parametrize("torn", [b'{"id": "i1", "decis', b"[" * 100_000], ids=["torn", "nested too deep"])
def test_a_decision_appended_after_a_torn_line_is_not_lost(run, torn):
    """A reviewer killed mid-append left a torn line; the next decision is still read (the torn
    fragment is cut, not glued to it), whatever the fragment holds."""
    log = RunLayout(run).review_file
    log.write_bytes(_line("i0") + torn)
    queue = ReviewQueue(run)
    assert queue.pending().ids == ["i1", "i2", "i4"]
    queue.decide("i2", "reject", "halo")
    assert queue.pending().ids == ["i1", "i4"] and ReviewQueue(run).pending().ids == ["i1", "i4"]


def test_not_a_run_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"is not a build run folder \(no items/\)"):
        ReviewQueue(tmp_path)


# -- which items await review; the index cache -----------------------------------------------------


def _write_compact(run, item_id: str, **fields) -> None:
    """A record as another tool (or an older ggt-hf) might write it: valid, but not formatted as the
    store writes it, so it is parsed in full."""
    record = ItemRecord(item_id, "rain", "train", f"ingest/0/{item_id}.png", "prompted", prompt="fix")
    data = {**record.to_json(), **fields}
    RunLayout(run).item(item_id).write_text(json.dumps(data, separators=(",", ":")))


def _attempt(n: int) -> dict:
    return asdict(AttemptRecord(n, "fix", 0, RunLayout.candidate("i0", 1), accepted=True))


def test_records_in_any_json_layout_are_recognised(run):
    _write_compact(run, "c1", state="accepted", attempts=[_attempt(1), _attempt(2)], final_attempt=2)
    _write_compact(run, "c3", state="accepted", attempts=[_attempt(1)], final_attempt=None)
    _write_compact(run, "c4", state="rejected", attempts=[_attempt(1)], final_attempt=1)
    _write_compact(run, "c5", state="prompted")
    store = RunStore(run)
    store.write(ItemRecord("s1", "rain", "train", "x.png", "accepted", attempts=[], final_attempt=None))
    assert ReviewQueue(run).pending().ids == ["c1", "i0", "i1", "i2", "i4"]
    assert ReviewQueue(run).item("c1").hq_path == RunLayout(run).resolve(RunLayout.candidate("i0", 1))


def _edit(run, item_id: str, edit) -> None:
    path = RunLayout(run).item(item_id)
    path.write_bytes(edit(path.read_bytes()))


def test_a_duplicated_key_counts_with_its_last_value_as_when_the_record_is_read(run):
    """A hand edit that appended a second "state" or "final_attempt" line: the queue judges the
    record as reading it does (JSON's last value wins), whichever way it recognises it."""
    dup_state = b'\n  "state": "rejected",\n  "state": "accepted"\n}\n'
    _edit(run, "i3", lambda b: b.replace(b'\n  "state": "rejected"\n}\n', dup_state))
    dup_final = b'\n  "final_attempt": 1,\n  "final_attempt": null,'
    _edit(run, "i1", lambda b: b.replace(b'\n  "final_attempt": 1,', dup_final))
    _edit(run, "i3", lambda b: b.replace(b'\n  "final_attempt": null,', b'\n  "final_attempt": 1,'))
    store = RunStore(run)
    assert store.read("i3").final() is not None and store.read("i1").final_attempt is None
    queue = ReviewQueue(run)
    assert queue.pending().ids == ["i0", "i2", "i3", "i4"]
    assert queue.item("i3").hq_path.is_file()


def test_a_record_found_unreadable_when_shown_leaves_the_queue_and_the_review_goes_on(run, caplog):
    """Records are recognised as reviewable from two lines; one damaged elsewhere (a block of NULs
    from a failing disk, an accepted attempt missing) used to stop the review app on every load of
    that item. Now it leaves the queue with a warning (the corrupt one is quarantined, for the
    build to redo) and the next item is shown; counts follow."""
    queue = ReviewQueue(run)
    queue.decide("i4", "reject", "halo")
    _edit(run, "i0", lambda b: b[:30] + b"\0" * 40 + b[70:])  # still both lines and the closing brace
    _edit(run, "i1", lambda b: b.replace(b'"final_attempt": 1', b'"final_attempt": 2'))
    _edit(run, "i4", lambda b: b[:30] + b"\0" * 40 + b[70:])
    assert queue.next_pending().id == "i2"
    assert queue.progress() == {"reviewed": 1, "total": 2, "accepted": 0, "rejected": 1, "pending": 1}
    assert [i.id for i in queue.items()] == ["i2"]
    assert queue.progress() == {"reviewed": 0, "total": 1, "accepted": 0, "rejected": 0, "pending": 1}
    assert not queue.is_pending("i0") and queue.next_pending(after="i2").id == "i2"
    with pytest.raises(KeyError, match="'i1' is not awaiting review"):
        queue.item("i1")
    quarantined = sorted(p.name.split(".")[0] for p in (RunLayout(run).quarantine_dir / "items").iterdir())
    assert quarantined == ["i0", "i4"] and RunLayout(run).item("i1").exists()
    assert [r.getMessage() for r in caplog.records if "i1.json" in r.getMessage()] == [
        f"{RunLayout(run).item('i1')}: state accepted but no attempt 2 among its attempts; left out of the review"
    ]
    queue.decide("i2", "accept")
    assert queue.next_pending() is None and ReviewQueue(run).pending().ids == ["i1"]  # i1: dropped when shown


def test_an_item_found_unreadable_is_a_key_error_naming_it(run):
    queue = ReviewQueue(run)
    RunLayout(run).item("i2").write_bytes(b"{")
    with pytest.raises(
        KeyError, match=r"'i2' left the review in .*: its record is corrupt or names no accepted"
    ):
        queue.item("i2")
    assert queue.pending().ids == ["i0", "i1", "i4"]


def test_the_queue_reads_only_record_files(run, caplog):
    """What else may sit in items/: a temp file of an interrupted atomic write, a dotfile (even one
    holding an accepted record), notes, a folder; none is an item, none stops the scan."""
    items = RunLayout(run).items_dir
    accepted = RunLayout(run).item("i0").read_bytes()
    (items / ".i0.json.k2j3.tmp").write_bytes(accepted[:50])
    (items / ".i9.json").write_bytes(accepted)
    for k in range(30):
        (items / f"note{k}.txt").write_text("mine")
    (items / "sub").mkdir()
    assert ReviewQueue(run).pending().ids == ["i0", "i1", "i2", "i4"] and not caplog.records


def test_opening_a_queue_parses_no_record_the_store_wrote(run, monkeypatch):
    """The documented speed-up: records as the store writes them are recognised from two lines,
    not parsed (opening a 100K-item queue was dominated by parsing); other JSON layouts are."""
    from ggt_hf.qc import review

    _write_compact(run, "c1", state="accepted", attempts=[_attempt(1)], final_attempt=1)
    parsed: list[bytes] = []

    def loads(text):
        parsed.append(text)
        return json.loads(text)

    monkeypatch.setattr(review, "json", SimpleNamespace(loads=loads, dumps=json.dumps))
    assert ReviewQueue(run).pending().ids == ["c1", "i0", "i1", "i2", "i4"]
    records = [b for b in parsed if isinstance(b, bytes)]
    assert records == [RunLayout(run).item("c1").read_bytes()]


def test_a_record_not_framed_as_a_json_object_is_parsed_and_quarantined(run):
    path = RunLayout(run).item("i2")
    path.write_bytes(path.read_bytes()[1:])  # the opening brace lost: both lines and the end intact
    assert ReviewQueue(run).pending().ids == ["i0", "i1", "i4"] and not path.exists()


@pytest.mark.parametrize(
    "content",
    [b'{\n  "state": "accepted"', b"[" * 100_000, b"\xff{", b"[1]"],
    ids=["truncated", "nested too deep", "binary", "a list"],
)
def test_a_corrupt_record_is_quarantined_and_not_reviewed(run, content, caplog):
    path = RunLayout(run).item("i1")
    path.write_bytes(content)
    queue = ReviewQueue(run)
    assert queue.pending().ids == ["i0", "i2", "i4"] and not path.exists()
    assert "corrupt item record" in caplog.text and "i1.json" in caplog.text


def test_a_reopened_queue_rereads_only_changed_records(run, monkeypatch):
    from ggt_hf.qc import review

    read: list[str] = []
    original = review._is_reviewable
    monkeypatch.setattr(review, "_is_reviewable", lambda store, i: read.append(i) or original(store, i))
    writes: list[Path] = []
    write = review.atomic_write_json
    monkeypatch.setattr(review, "atomic_write_json", lambda p, o: writes.append(p) or write(p, o))
    ReviewQueue(run)
    assert sorted(read) == ["i0", "i1", "i2", "i3", "i4"] and len(writes) == 1
    read.clear()
    ReviewQueue(run)
    assert read == [] and len(writes) == 1  # nothing changed: nothing read, nothing written
    store = RunStore(run)
    store.write(ItemRecord("i4", "rain", "train", "ingest/0/i4.png", "failed"))  # the build redid i4
    assert ReviewQueue(run).pending().ids == ["i0", "i1", "i2"] and read == ["i4"] and len(writes) == 2
    store.layout.item("i2").unlink()
    assert ReviewQueue(run).pending().ids == ["i0", "i1"] and read == ["i4"] and len(writes) == 3
    assert sorted(json.loads(store.layout.review_index.read_text())) == ["i0", "i1", "i3", "i4"]


@pytest.mark.parametrize(
    "index",
    ["[]", '"x"', "7", "{", "[" * 100_000, '{"i0": 5, "i1": "abc", "i2": [1], "i3": [1, 2, true, 4]}'],
    ids=["a list", "a string", "a number", "truncated", "nested too deep", "wrong entries"],
)
def test_a_garbled_index_is_rebuilt(run, index):
    path = RunLayout(run).review_index
    ReviewQueue(run)
    good = json.loads(path.read_text())
    path.write_text(index)
    assert ReviewQueue(run).pending().ids == ["i0", "i1", "i2", "i4"]
    assert json.loads(path.read_text()) == good


def test_items_accepted_after_the_queue_opened_appear_on_rescan(run):
    queue = ReviewQueue(run)
    store = RunStore(run)
    record = store.read("i0")
    record.id = "i5"
    store.write(record)  # the build, still running, accepts i5
    RunLayout(run).review_file.write_bytes(_line("i5"))  # and another reviewer, rescanned, accepts it
    assert queue.pending().ids == ["i0", "i1", "i2", "i4"] and queue.progress()["total"] == 4
    queue.rescan()
    assert queue.pending().ids == ["i0", "i1", "i2", "i4"]
    assert queue.progress() == {"reviewed": 1, "total": 5, "accepted": 1, "rejected": 0, "pending": 4}


_ids = st.sampled_from(["i0", "i1", "i2", "i3", "i4", "zz"])  # i3: auto-rejected, zz: not in the run
_decisions = st.lists(st.tuples(_ids, st.sampled_from(DECISIONS), st.booleans()), max_size=12)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(decisions=_decisions, torn=st.binary(max_size=12).filter(lambda b: b"\n" not in b))
def test_the_queue_is_the_last_decision_per_item_however_it_is_read(run, decisions, torn):
    """Whatever the order of decisions, whichever of two reviewers writes them and however often
    the queue looks (after each line, or once at the end, with a torn line from a crashed writer
    left at the end), it shows the last decision per item and counts only items awaiting review."""
    log = RunLayout(run).review_file
    log.unlink(missing_ok=True)
    watcher = ReviewQueue(run)
    for item_id, decision, by_hand in decisions:
        with open(log, "ab") as fh:  # another reviewer's ggt, or a hand-written line
            fh.write(_line(item_id, decision, reason="r", reviewer="hand" if by_hand else "ggt"))
        watcher.progress()
    with open(log, "ab") as fh:
        fh.write(torn)
    last = {item_id: decision for item_id, decision, _ in decisions}
    reviewable = ["i0", "i1", "i2", "i4"]
    counted = [last[i] for i in reviewable if i in last]
    expected = {
        "reviewed": len(counted),
        "total": 4,
        "accepted": counted.count("accept"),
        "rejected": counted.count("reject"),
        "pending": 4 - len(counted),
    }
    for queue in (watcher, ReviewQueue(run)):
        assert queue.progress() == expected
        assert {i: r["decision"] for i, r in queue.decisions().items()} == last
        assert queue.pending().ids == [i for i in reviewable if i not in last]
    assert {i: r["decision"] for i, r in read_decisions(RunLayout(run)).items()} == last
