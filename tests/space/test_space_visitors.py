"""The Space as an attacker uses it, served on 127.0.0.1: sign-in (Gradio's mocked Hugging Face
login), rows owned by accounts, forged X-Forwarded-For, vote floods, file URLs into the arena's
store, byte-identical served images, and the temp folder (bounded, removed on SIGTERM)."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

gr = pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")
httpx = pytest.importorskip("httpx")

from gradio_client import handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from tests.space.conftest import free_port  # noqa: E402

pytestmark = [
    pytest.mark.filterwarnings("ignore::Warning:gradio.queueing"),
    pytest.mark.filterwarnings("ignore:Gradio does not support OAuth features"),
]


@pytest.fixture
def mock_login(monkeypatch):
    """Gradio's local mock of "Sign in with Hugging Face", without a network ``whoami``:
    ``login(url, name)`` signs in as ``name`` and returns the session cookie header."""
    import gradio.oauth

    userinfo = {"sub": "1", "name": "", "preferred_username": "", "profile": "", "picture": ""}
    info = {"access_token": "mock", "token_type": "bearer", "scope": "openid profile", "userinfo": userinfo}
    monkeypatch.setattr(gradio.oauth, "_get_mocked_oauth_info", lambda: info)

    def login(url: str, name: str) -> dict[str, str]:
        userinfo.update(name=name, preferred_username=name, profile=f"https://huggingface.co/{name}")
        answer = httpx.get(url.rstrip("/") + "/login/callback", follow_redirects=False)
        return {"Cookie": f"session={answer.cookies['session']}"}

    return login


def _client(app, headers: dict[str, str] | None = None):
    return gradio_client.Client(app.local_url, headers=headers, verbose=False)


def test_signed_in_accounts_own_their_rows_and_votes_are_bounded(
    space_config, store, serve, make_zip, valid_members, mock_login
) -> None:
    config = space_config.with_(sign_in=True, admins=["root"], vote_limit=4)
    app, anonymous = serve(config, store)
    good = make_zip("good.zip", valid_members)
    with pytest.raises(AppError, match="Sign in with Hugging Face"):
        anonymous.predict(
            handle_file(str(good)), "TeamA-NAFNet", "teama/nafnet", api_name="/submit_predictions"
        )
    teama = _client(app, mock_login(app.local_url, "teama"))
    mallory = _client(app, mock_login(app.local_url, "mallory"))
    record, _ = teama.predict(
        handle_file(str(good)), "TeamA-NAFNet", "teama/nafnet", api_name="/submit_predictions"
    )
    assert (record["user"], record["owner"], record["status"]) == ("teama", "teama", "PENDING")
    with pytest.raises(AppError, match="belongs to the account 'teama'"):
        mallory.predict(
            handle_file(str(good)), "TeamA-NAFNet", "mallory/evil", api_name="/submit_predictions"
        )
    root = _client(app, mock_login(app.local_url, "root"))
    record, _ = root.predict(
        handle_file(str(good)), "TeamA-NAFNet", "teama/nafnet", api_name="/submit_predictions"
    )
    assert (record["user"], record["owner"]) == ("root", "teama")  # an admin replaces, the row stays teama's
    owners = {r.owner for r in store.requests() if r.model == "TeamA-NAFNet" and r.status == "PENDING"}
    assert owners == {"teama"}

    with pytest.raises(AppError, match="Sign in with Hugging Face"):
        _, _, _, token, _ = anonymous.predict(api_name="/arena_pair")
        anonymous.predict(token, "A", api_name="/vote")
    counted = 0
    for _ in range(10):  # a flood from one account: only the limit counts
        _, _, _, token, _ = mallory.predict(api_name="/arena_pair")
        try:
            mallory.predict(token, "A", api_name="/vote")
            counted += 1
        except AppError as exc:
            assert "not counted" in str(exc)
    assert counted == 4
    assert [v.user for v in store.votes_store().votes()] == ["mallory"] * 4


def test_forged_forwarded_for_does_not_reset_the_limit(space_config, store, serve) -> None:
    config = space_config.with_(rate_limit=3)
    app, client = serve(config, store)
    for _ in range(3):  # refused submissions count against the limit
        with pytest.raises(AppError, match=r"not a Hub model repo id|Hub model id"):
            client.predict("nafnet", api_name="/submit_model")
    past_limit = 0
    for i in range(5):
        forged = _client(app, {"X-Forwarded-For": f"203.0.113.{i + 1}"})
        try:
            forged.predict("nafnet", api_name="/submit_model")
        except AppError as exc:
            past_limit += "rate limit reached" not in str(exc)
    assert past_limit == 0
    assert {r.user for r in store.requests()} == {"anonymous@127.0.0.1"}


def test_a_trusted_proxy_forwards_the_right_most_untrusted_address(space_config, store, serve) -> None:
    app, _ = serve(space_config.with_(trusted_proxies=["127.0.0.1", "10.0.0.0/8"]), store)
    client = _client(app, {"X-Forwarded-For": "198.51.100.9, 203.0.113.7, 10.1.2.3"})
    with pytest.raises(AppError):
        client.predict("nafnet", api_name="/submit_model")
    assert [r.user for r in store.requests()] == ["anonymous@203.0.113.7"]


def test_arena_is_blind_and_its_store_is_not_served(space_config, store, serve, space_data) -> None:
    app, client = serve(space_config, store)
    url = app.local_url.rstrip("/")
    for system in ("classical", "lq-identity"):
        target = space_data.arena / system / f"{space_data.ids[0]}.png"
        assert httpx.get(f"{url}/gradio_api/file={target}").status_code == 403
    assert httpx.get(f"{url}/gradio_api/file={space_data.lq / space_data.ids[0]}.png").status_code == 403
    digests: set[str] = set()
    for _ in range(12):  # 24 images of 6 photos x 3 systems: plain copies would repeat
        _, a, b, _, _ = client.predict(api_name="/arena_pair")
        for path in (a, b):
            assert not any(s in path for s in ("classical", "identity", "blurred", str(space_data.arena)))
            digests.add(hashlib.sha256(Path(path).read_bytes()).hexdigest())
    assert len(digests) == 24  # no two served images share their bytes


def test_arena_pairs_leave_at_most_the_temp_bound(space_config, store, serve) -> None:
    app, client = serve(space_config.with_(temp_max_files=15), store)
    root = app.ggt_temp.root
    for _ in range(20):  # 3 files each
        client.predict(api_name="/arena_pair")
        assert app.ggt_temp.usage()[1] <= 15
    assert root.is_dir()
    app.close()
    assert not root.exists()


_SPACE = """
import sys
from ggt_hf.space import SpaceConfig, launch_space
launch_space(SpaceConfig.from_env(), "127.0.0.1", int(sys.argv[1]))
"""


@pytest.mark.slow
def test_sigterm_leaves_no_space_temp_folder(tmp_path, space_data) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    port = free_port()
    env = {
        **os.environ,
        "TMPDIR": str(tmp),
        "GGT_SPACE_STORE": str(tmp_path / "store"),
        "GGT_SPACE_ARENA": str(space_data.arena),
        "GGT_SPACE_ARENA_LQ": str(space_data.lq),
        "GGT_SPACE_WARM_UP": "0",
        "GGT_SPACE_METRICS": "piqe",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    proc = subprocess.Popen([sys.executable, "-c", _SPACE, str(port)], env=env, stderr=subprocess.PIPE)
    try:
        for _ in range(600):  # wait (≤ 60 s) for the server
            try:
                if httpx.get(f"http://127.0.0.1:{port}/config").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        client = gradio_client.Client(f"http://127.0.0.1:{port}/", verbose=False)
        for _ in range(3):
            client.predict(api_name="/arena_pair")
        assert list(tmp.glob("ggt-space-*"))  # it did write there
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not list(tmp.glob("ggt-space-*")) and not list(tmp.glob("ggt-arena-*"))


def test_space_temp_evicts_the_oldest_files_first(tmp_path, monkeypatch) -> None:
    from ggt_hf.space.temp import SpaceTemp

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    temp = SpaceTemp(max_bytes=10_000, max_files=100, interval=0)
    assert temp.root.parent == tmp_path and temp.root.name.startswith("ggt-space-")
    uploads = temp.folder("gradio/uploads")
    for i in range(50):  # 50 "uploads" of 1 kB, oldest first
        path = uploads / f"u{i}.bin"
        path.write_bytes(b"x" * 1000)
        os.utime(path, (1_000_000 + i, 1_000_000 + i))
    assert temp.enforce() == 40
    assert sorted(p.name for p in uploads.iterdir()) == sorted(f"u{i}.bin" for i in range(40, 50))
    assert temp.usage() == (10_000, 10)
    temp.cleanup()
    assert not temp.root.exists()


def test_uploads_land_in_the_bounded_temp_folder(space_config, store, serve) -> None:
    app, _ = serve(space_config.with_(temp_max_mb=1), store)
    url = app.local_url.rstrip("/")
    for i in range(6):  # uploads arrive without any action running: the janitor bounds them
        files = {"files": (f"junk{i}.bin", os.urandom(300_000), "application/octet-stream")}
        (path,) = httpx.post(f"{url}/gradio_api/upload", files=files).json()
        assert Path(path).is_relative_to(app.ggt_temp.root)
    assert app.ggt_temp.usage()[0] > 1 << 20
    app.ggt_temp.enforce()  # what the janitor runs every 30 s
    assert app.ggt_temp.usage()[0] <= 1 << 20
