"""The indexed review queue: several reviewers merge, the index follows the log, typed records."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from ggt_hf.files.run_store import RunLayout, RunStore
from ggt_hf.qc.review import ReviewQueue, read_decisions
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
