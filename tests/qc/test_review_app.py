"""The QC stage-3 review app, served for real on 127.0.0.1 and driven with ``gradio_client``."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no phoning home from the test server

gr = pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")
skdata = pytest.importorskip("skimage.data")

from gradio_client.exceptions import AppError  # noqa: E402

from ggt_hf.commands import review as review_command  # noqa: E402
from ggt_hf.qc.review import REVIEW_FILE  # noqa: E402
from ggt_hf.qc.review_app import (  # noqa: E402
    REASON_REQUIRED,
    REVIEW_JS,
    build_review_app,
    launch_review,
)

# id -> (skimage photo, state, final attempt); item "c" was rejected by the automatic QC.
ITEMS = {
    "a": ("astronaut", "accepted", 1),
    "b": ("chelsea", "accepted", 2),
    "c": ("coffee", "rejected", None),
    "d": ("rocket", "accepted", 1),
    "e": ("immunohistochemistry", "accepted", 1),
}
# Gradio's queue statistics use pandas APIs that pandas 3 deprecates; gr.Warning outside a request warns.
pytestmark = [
    pytest.mark.filterwarnings("ignore::Warning:gradio.queueing"),
    pytest.mark.filterwarnings(f"ignore:{REASON_REQUIRED}:UserWarning"),
]


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A build run folder: items/<id>.json records, LQ inputs and candidate HQ PNGs (photo crops)."""
    run = tmp_path / "run"
    (run / "items").mkdir(parents=True)
    for k, (item_id, (photo, state, final)) in enumerate(ITEMS.items()):
        hq = Image.fromarray(getattr(skdata, photo)()[:96, 32:128])
        lq = Image.fromarray((np.asarray(hq, dtype=np.float32) * 0.55).astype(np.uint8))
        (run / "lq").mkdir(exist_ok=True)
        lq.save(run / "lq" / f"{item_id}.png")
        attempts = []
        for n in (1, 2):
            image = f"candidates/{item_id}/attempt{n}.png"
            (run / image).parent.mkdir(parents=True, exist_ok=True)
            hq.rotate(90 * (n - 1)).save(run / image)
            attempts.append(
                {
                    "attempt": n,
                    "prompt": f"restore {photo}, attempt {n}",
                    "seed": 10 * k + n,
                    "image": image,
                    "checks": [
                        {
                            "stage": "metric",
                            "name": "musiq_gain",
                            "passed": True,
                            "value": 3.25,
                            "reason": None,
                        },
                        {
                            "stage": "auto",
                            "name": "geometry",
                            "passed": n == 2,
                            "value": 0.91,
                            "reason": "ok",
                        },
                    ],
                    "error": None,
                    "metadata": {},
                }
            )
        record = {
            "id": item_id,
            "category": "rain" if k % 2 else "haze",
            "split": "train",
            "lq_path": f"lq/{item_id}.png",
            "state": state,
            "final_attempt": final,
            "attempts": attempts,
        }
        (run / "items" / f"{item_id}.json").write_text(json.dumps(record))
    return run


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def serve() -> Iterator[Callable[[Path], tuple[gr.Blocks, gradio_client.Client]]]:
    """Launch the review app of a run in-process on a free port; every app is closed at teardown."""
    apps: list[gr.Blocks] = []

    def launch(run: Path) -> tuple[gr.Blocks, gradio_client.Client]:
        app = launch_review(run, host="127.0.0.1", port=_free_port(), prevent_thread_lock=True, quiet=True)
        apps.append(app)
        return app, gradio_client.Client(app.local_url, verbose=False)

    yield launch
    for app in apps:
        app.close(verbose=False)


def _decisions(run: Path) -> list[dict]:
    path = run / REVIEW_FILE
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_current_item_and_named_endpoints(run_dir: Path, serve) -> None:
    app, client = serve(run_dir)
    assert app.server_name == "127.0.0.1"
    endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert {"/current", "/accept", "/reject", "/skip"} <= set(endpoints)

    view = client.predict(api_name="/current")
    assert not view["done"]
    assert view["progress"] == {"reviewed": 0, "total": 4, "accepted": 0, "rejected": 0, "pending": 4}
    assert view["summary"].startswith("0 / 4 reviewed")
    item = view["item"]
    assert (item["id"], item["category"]) == ("a", "haze")
    assert item["prompt"] == "restore astronaut, attempt 1"
    assert [c["name"] for c in item["checks"]] == ["musiq_gain", "geometry"]
    assert Path(item["lq"]) == run_dir / "lq" / "a.png"

    # "b" shows its final (second) attempt; skipping round the queue never reaches rejected "c".
    seen = [item["id"]]
    for _ in range(4):
        view = client.predict(seen[-1], api_name="/skip")
        seen.append(view["item"]["id"])
        if seen[-1] == "b":
            assert Path(view["item"]["hq"]) == run_dir / "candidates" / "b" / "attempt2.png"
            assert view["item"]["prompt"] == "restore chelsea, attempt 2"
    assert seen == ["a", "b", "d", "e", "a"]
    assert client.predict("d", api_name="/current")["item"]["id"] == "d"  # stays on an undecided item
    assert _decisions(run_dir) == []


def test_accept_reject_skip_are_persisted(run_dir: Path, serve) -> None:
    _, client = serve(run_dir)
    view = client.predict("a", reviewer="alice", api_name="/accept")
    assert view["message"] == "Accepted a."
    assert view["item"]["id"] == "b"
    assert view["progress"]["accepted"] == 1

    with pytest.raises(AppError, match=REASON_REQUIRED):
        client.predict("b", "   ", api_name="/reject")
    assert [d["id"] for d in _decisions(run_dir)] == ["a"]  # nothing written for the bad rejection
    with pytest.raises(AppError, match="not awaiting review"):
        client.predict("c", "automatic QC already rejected it", api_name="/reject")

    view = client.predict("b", "face changed", api_name="/reject")
    assert view["item"]["id"] == "d"
    assert view["summary"] == "2 / 4 reviewed (1 accepted, 1 rejected)"

    view = client.predict("d", api_name="/skip")
    assert view["item"]["id"] == "e"
    assert "Skipped d" in view["message"]

    rows = _decisions(run_dir)
    assert [(r["id"], r["decision"], r["reason"], r["reviewer"]) for r in rows] == [
        ("a", "accept", None, "alice"),
        ("b", "reject", "face changed", None),
    ]
    assert all(isinstance(r["time"], float) for r in rows)


def test_relaunch_resumes_then_all_reviewed(run_dir: Path, serve) -> None:
    app, client = serve(run_dir)
    client.predict("a", api_name="/accept")
    client.predict("b", api_name="/skip")
    client.predict("d", "colour shift", api_name="/reject")
    app.close(verbose=False)

    _, client = serve(run_dir)  # a new server (or a reopened browser) resumes at the first undecided
    view = client.predict(api_name="/current")
    assert view["item"]["id"] == "b"
    assert view["summary"].startswith("2 / 4 reviewed")

    view = client.predict("b", api_name="/accept")
    assert view["item"]["id"] == "e"
    view = client.predict("e", api_name="/accept")
    assert view["done"] and view["item"] is None
    assert view["summary"] == "All 4 items reviewed (3 accepted, 1 rejected)"
    assert client.predict(api_name="/current")["summary"].startswith("All 4 items reviewed")
    with pytest.raises(AppError, match="No item"):
        client.predict("", api_name="/accept")
    assert len(_decisions(run_dir)) == 4


def test_ui_events(run_dir: Path) -> None:
    """The (private) UI events through Gradio's own pre/post-processing, as the browser calls them."""
    from gradio.state_holder import SessionState

    app = build_review_app(run_dir, reviewer="bob")
    events = {fn.fn.__name__: fn for fn in app.fns.values() if fn.fn is not None}
    state = SessionState(app)

    def call(name: str, *inputs):
        out = asyncio.run(app.process_api(events[name], list(inputs), state=state, session_hash="s"))
        return out["data"]

    _, header, done, panel, lq, hq, slider, prompt, checks, _reason, _message = call("ui_show", None)
    assert header.startswith("### a · ") and "0 / 4 reviewed" in header
    assert panel["visible"] and not done["visible"]
    assert lq["orig_name"] == "a.png" and hq["orig_name"] == "attempt1.png"
    assert Image.open(lq["path"]).tobytes() == Image.open(run_dir / "lq" / "a.png").tobytes()  # lossless
    assert [s["orig_name"] for s in slider] == ["a.png", "attempt1.png"]
    assert prompt == "restore astronaut, attempt 1"
    assert checks["headers"] == ["stage", "check", "passed", "value", "reason"]
    assert checks["data"] == [
        ["metric", "musiq_gain", "✓", "3.25", ""],
        ["auto", "geometry", "✗", "0.91", "ok"],
    ]

    out = call("ui_reject", None, "")  # the current item comes from the session state
    assert REASON_REQUIRED in out[-1] and "reason box" in out[-1]
    assert all(o == {"__type__": "update"} for o in out[1:-1])  # the item stays on screen
    assert _decisions(run_dir) == []

    out = call("ui_accept", None, "")
    assert out[1].startswith("### b · ") and out[-1] == "Accepted a."
    out = call("ui_skip", None)
    assert out[1].startswith("### d · ")
    out = call("ui_reject", None, "halo artefacts")
    assert out[1].startswith("### e · ") and out[-1] == "Rejected d (halo artefacts)."
    call("ui_accept", None, "")
    out = call("ui_accept", None, "")  # "b", skipped before, comes back last
    assert out[2]["visible"] and out[2]["value"].startswith(
        "### All 4 items reviewed (3 accepted, 1 rejected)"
    )
    assert not out[3]["visible"]
    assert [(d["id"], d["decision"], d["reviewer"]) for d in _decisions(run_dir)] == [
        ("a", "accept", "bob"),
        ("d", "reject", "bob"),
        ("e", "accept", "bob"),
        ("b", "accept", "bob"),
    ]


# A minimal fake DOM for REVIEW_JS: the buttons count their clicks, the reason box its focus.
_FAKE_DOM = """
const clicks = [];
const mk = (id) => ({ tagName: "BUTTON", disabled: false, offsetParent: {}, click: () => clicks.push(id) });
const buttons = { "ggt-accept": mk("accept"), "ggt-reject": mk("reject"), "ggt-skip": mk("skip") };
const box = { tagName: "TEXTAREA", value: "", focused: false, focus() { this.focused = true; }, blur() {} };
const body = { tagName: "BODY" };
let handler = null;
globalThis.window = {};
globalThis.document = {
  getElementById: (id) => buttons[id] || null,
  querySelector: () => box,
  addEventListener: (type, fn) => { if (type === "keydown") handler = fn; },
};
const press = (key, target = body, extra = {}) => {
  let prevented = false;
  handler({ key, target, preventDefault: () => { prevented = true; }, ...extra });
  return prevented;
};
"""

_KEY_SCENARIO = """
install();
install();  // idempotent: a second call must not add a second listener
const out = {};
press("a"); press("s");
out.prevented_r = press("r");  // empty reason: focus the box, do not click
out.focused = box.focused;
out.clicks_before_reason = [...clicks];
box.value = "too soft";
press("r");
press("a", box); press("r", box); press("s", box);  // typing a reason: no shortcuts
press("a", body, { ctrlKey: true });  // Ctrl+A stays the browser's
press("A");  // caps lock / shift
buttons["ggt-skip"].offsetParent = null;  // hidden (all items reviewed): not clickable
press("s");
out.clicks = clicks;
console.log(JSON.stringify(out));
"""


def test_keyboard_shortcuts(run_dir: Path, tmp_path: Path) -> None:
    """REVIEW_JS targets the app's elements and, in a fake DOM, maps a/r/s without hijacking typing."""
    app = build_review_app(run_dir)
    elem_ids = {block.elem_id for block in app.blocks.values()}
    for elem_id in ("ggt-accept", "ggt-reject", "ggt-skip", "ggt-reason"):
        assert elem_id in elem_ids and elem_id in REVIEW_JS
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the snippet's behaviour is not exercised")
    script = tmp_path / "keys.js"
    script.write_text(f"{_FAKE_DOM}\nconst install = {REVIEW_JS.strip()};\n{_KEY_SCENARIO}")
    result = subprocess.run([node, str(script)], capture_output=True, text=True, timeout=30, check=True)
    out = json.loads(result.stdout)
    assert out["prevented_r"] and out["focused"]
    assert out["clicks_before_reason"] == ["accept", "skip"]
    assert out["clicks"] == ["accept", "skip", "reject", "accept"]


def test_env_address_and_cli(run_dir: Path, monkeypatch, capsys) -> None:
    port = _free_port()
    monkeypatch.setenv("GRADIO_SERVER_NAME", "127.0.0.1")
    monkeypatch.setenv("GRADIO_SERVER_PORT", str(port))
    monkeypatch.setattr(gr.Blocks, "block_thread", lambda self: None)  # return at once instead of serving
    parser = argparse.ArgumentParser()
    review_command.add_arguments(parser)
    assert review_command.run(parser.parse_args([str(run_dir), "--reviewer", "carol"])) == 0
    out = capsys.readouterr().out
    assert f"open http://127.0.0.1:{port}/" in out
    assert "4 items, 4 awaiting a decision" in out

    with pytest.raises(FileNotFoundError, match="not a build run folder"):
        review_command.run(parser.parse_args([str(run_dir / "items")]))
