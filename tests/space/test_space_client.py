"""The Space served for real on 127.0.0.1 and driven through its named endpoints with gradio_client."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

gr = pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

from gradio_client import handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from ggt_hf.pipeline.demo import sample_dir  # noqa: E402

# Gradio's queue statistics use pandas APIs that pandas 3 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")

ENDPOINTS = {
    "/restore",
    "/restorers",
    "/leaderboard",
    "/submit_predictions",
    "/submit_model",
    "/request_status",
    "/arena_pair",
    "/vote",
    "/arena_ranking",
}


def test_restore_endpoint(space_config, store, serve, tmp_path: Path) -> None:
    _, client = serve(space_config, store)
    assert set(client.view_api(return_format="dict", print_info=False)["named_endpoints"]) >= ENDPOINTS
    choices = client.predict(api_name="/restorers")
    assert choices[0] == "classical" and "classical:haze" in choices

    source = tmp_path / "dark_chelsea.png"  # 451×300, under max_side: no resize; under-exposed
    dark = np.asarray(Image.open(sample_dir() / "chelsea.png").convert("RGB")) // 4
    Image.fromarray(dark).save(source)
    slider, result, deltas, notice = client.predict(
        handle_file(str(source)), "classical", api_name="/restore"
    )
    with Image.open(result) as out:
        assert out.format == "PNG" and out.size == Image.open(source).size
        restored = np.asarray(out.convert("RGB"), dtype=np.int16)
    original = np.asarray(Image.open(source).convert("RGB"), dtype=np.int16)
    assert np.abs(restored - original).mean() > 1.0  # the baseline changed the photo
    before, after = (Path(p) for p in slider)
    assert np.array_equal(np.asarray(Image.open(before).convert("RGB")), original)  # lossless input side
    assert np.array_equal(np.asarray(Image.open(after).convert("RGB")), restored)
    assert deltas["headers"] == ["metric", "better", "input", "output", "delta", "improved"]
    (row,) = deltas["data"]
    assert row[0] == "PIQE" and row[1] == "↓"
    assert row[4] == pytest.approx(row[3] - row[2], abs=1e-3)
    assert "Restored with **classical**" in notice


def test_restore_large_upload_and_bad_files(space_config, store, serve, tmp_path: Path) -> None:
    _, client = serve(space_config, store)
    big = tmp_path / "big.png"
    Image.open(sample_dir() / "astronaut.png").save(big)  # 512² > max_side 480
    _, result, _, notice = client.predict(handle_file(str(big)), "classical:haze", api_name="/restore")
    assert Image.open(result).size == (480, 480)
    assert "resized from 512×512 to 480×480" in notice

    text = tmp_path / "notes.png"
    text.write_text("<html>not a photo</html>")
    with pytest.raises(AppError, match=r"notes\.png: not an image: content is HTML/XML text"):
        client.predict(handle_file(str(text)), "classical", api_name="/restore")
    truncated = tmp_path / "cut.png"
    truncated.write_bytes((sample_dir() / "camera.png").read_bytes()[:2000])
    with pytest.raises(AppError, match=r"cut\.png: .*(truncated|corrupt)"):
        client.predict(handle_file(str(truncated)), "classical", api_name="/restore")
    with pytest.raises(AppError, match="no-such-model is not in the list of choices"):
        client.predict(handle_file(str(big)), "no-such-model", api_name="/restore")


def test_leaderboard_endpoint(space_config, store, serve, seeded_results) -> None:
    _, client = serve(space_config, store)
    table, plot = client.predict("overall", [], [], "", "", api_name="/leaderboard")
    headers, rows = table["headers"], table["data"]
    model_col = headers.index("Model")
    models = [r[model_col] for r in rows]
    assert len(rows) == 3 and all("](https://huggingface.co/ggt-hf/" in m for m in models)
    psnr = {r["model"]: r["overall"]["psnr"] for r in seeded_results}
    psnr_col = headers.index("PSNR↑")
    for row in rows:
        name = row[model_col].split("]")[0].lstrip("[")
        assert row[psnr_col] == pytest.approx(psnr[name], abs=0.01)
    assert plot is not None

    table, _ = client.predict("overall", [], [], "", "PSNR↑", api_name="/leaderboard")
    values = [r[table["headers"].index("PSNR↑")] for r in table["data"]]
    assert values == sorted(values, reverse=True)  # higher is better: descending
    table, _ = client.predict("overall", [], [], "blur", "", api_name="/leaderboard")
    assert [r[model_col] for r in table["data"]] == [m for m in models if "blurred" in m]


def test_submit_valid_zip_and_status(space_config, store, serve, make_zip, valid_members) -> None:
    _, client = serve(space_config, store)
    good = make_zip("good.zip", valid_members)
    record, message = client.predict(
        handle_file(str(good)), "my-restorer", "", api_name="/submit_predictions"
    )
    assert record["status"] == "PENDING" and record["kind"] == "predictions"
    assert record["model"] == "my-restorer" and record["user"] == "anonymous@127.0.0.1"
    assert f"Request `{record['request_id']}`" in message and "PENDING" in message
    again, _ = client.predict(record["request_id"], api_name="/request_status")
    assert again["request_id"] == record["request_id"] and again["status"] == "PENDING"
    assert [r.request_id for r in store.requests()] == [record["request_id"]]
    with pytest.raises(AppError, match="no-such-request"):
        client.predict("no-such-request", api_name="/request_status")


def test_submit_invalid_zips_are_rejected_with_reasons(
    space_config, store, serve, make_zip, valid_members, space_data
) -> None:
    _, client = serve(space_config, store)
    ids = space_data.ids
    rest = {k: v for k, v in valid_members.items() if k != f"{ids[0]}.png"}
    small = Image.open(space_data.arena / "classical" / f"{ids[0]}.png").resize((32, 32))
    from io import BytesIO

    buf = BytesIO()
    small.save(buf, format="PNG")
    cases = {
        "traversal": ({**rest, f"../{ids[0]}.png": valid_members[f"{ids[0]}.png"]}, None, r"\.\./"),
        "bomb": ({**rest, f"{ids[0]}.png": b"\0" * (8 << 20)}, None, r"ratio|uncompressed|bomb"),
        "symlink": (rest, {f"{ids[0]}.png": "/etc/passwd"}, r"symbolic link"),
        "non_image": ({**rest, f"{ids[0]}.png": b"#!/bin/sh\nrm -rf /\n" * 20}, None, r"not an image"),
        "wrong_id": (
            {**valid_members, "zzz.png": valid_members[f"{ids[0]}.png"]},
            None,
            r"not in the test split",
        ),
        "missing": (rest, None, r"missing prediction"),
        "wrong_size": ({**rest, f"{ids[0]}.png": buf.getvalue()}, None, r"32×32|size"),
    }
    for name, (members, links, pattern) in cases.items():
        path = make_zip(f"{name}.zip", members, links)
        with pytest.raises(AppError, match="Submission rejected") as info:
            client.predict(handle_file(str(path)), name, "", api_name="/submit_predictions")
        assert re.search(pattern, str(info.value)), (name, str(info.value))
    # nothing queued, nothing extracted; each refusal is recorded (it counts against the rate limit)
    assert [r.status for r in store.requests()] == ["FAILED"] * len(cases)
    assert not any(p.is_dir() for p in store.requests_dir.iterdir())


def test_submit_model_takes_pinned_hub_repos_only(
    space_config, store, serve, hub_api, tmp_path: Path
) -> None:
    from ggt_hf.restorers import build_restorer

    _, client = serve(space_config, store, hub_api=hub_api)
    folder = tmp_path / "pickled"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "nafnet"}')
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04pickle")
    hub_api.add_repo("eve/pickled", folder)
    with pytest.raises(AppError, match=r"Submission rejected.*(safetensors|pickle)"):
        client.predict("eve/pickled", api_name="/submit_model")
    with pytest.raises(AppError, match="not a Hub model repo id"):  # the same folder by its path
        client.predict(str(folder), api_name="/submit_model")
    with pytest.raises(AppError, match="Hub model id"):
        client.predict("  ", api_name="/submit_model")
    assert [r.status for r in store.requests()] == ["FAILED"] * 3
    build_restorer("nafnet", width=8, middle_blk_num=1, enc_blk_nums=[1], dec_blk_nums=[1]).save_pretrained(
        tmp_path / "good"
    )
    hub_api.add_repo("alice/nafnet-tiny", tmp_path / "good")
    record, message = client.predict("alice/nafnet-tiny", api_name="/submit_model")
    assert record["status"] == "PENDING" and record["model_repo"] == "alice/nafnet-tiny"
    assert record["revision"] in hub_api.commits and "PENDING" in message


def test_arena_votes_update_the_ranking(space_config, store, serve) -> None:
    app, client = serve(space_config, store)
    app.ggt_services["arena"].ranking_refresh = 0  # recompute on every call (default: every 5 min)
    ranking = client.predict(api_name="/arena_ranking")
    assert ranking["data"] == [] or all(
        row[ranking["headers"].index("Votes")] == 0 for row in ranking["data"]
    )
    tallies: dict[str, int] = {}
    for _ in range(6):
        lq, a, b, token, caption = client.predict(api_name="/arena_pair")
        assert token and "which restoration is better" in caption
        for path in (lq, a, b):
            assert Image.open(path).size == (64, 64)
        assert not any(s in Path(p).name for p in (a, b) for s in ("classical", "identity", "blurred"))
        status, ranking = client.predict(token, "A", api_name="/vote")
        assert "counted" in status  # ... and no system is named to the voter
        assert not any(s in status for s in ("classical", "identity", "blurred"))
        winner = store.votes_store().votes()[-1].system_a  # the server knows who A was
        tallies[winner] = tallies.get(winner, 0) + 1
        with pytest.raises(AppError, match=r"already used|unknown"):
            client.predict(token, "B", api_name="/vote")  # single-use token
    headers = ranking["headers"]
    assert {"System", "Rating", "CI low", "CI high"} <= set(headers)
    by_system = {row[headers.index("System")]: row for row in ranking["data"]}
    assert sum(by_system[s][headers.index("Wins")] for s in by_system) == 6
    for system, wins in tallies.items():
        assert by_system[system][headers.index("Wins")] == wins
    for row in ranking["data"]:
        assert row[headers.index("CI low")] <= row[headers.index("Rating")] <= row[headers.index("CI high")]
    assert len(store.votes_store().votes()) == 6
    with pytest.raises(AppError, match="choose one of"):
        lq, a, b, token, _ = client.predict(api_name="/arena_pair")
        client.predict(token, "maybe", api_name="/vote")
