"""ggt push: the exact operations sent to the Hub, with no network and no pretending.

The Hub client is replaced by a recorder (``api=``) that stores every call; nothing here claims an
upload happened: the tests check what *would* be sent and what is refused.
"""

from __future__ import annotations

import pytest

from ggt_hf.errors import DatasetValidationError
from ggt_hf.hub.pack import pack
from ggt_hf.hub.pairs import pairs_from_dir
from ggt_hf.hub.push import PushError, plan_push, push_folder


class RecordingApi:
    """Stands in for ``huggingface_hub.HfApi``; records calls and their arguments."""

    def __init__(self):
        self.calls = []

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", repo_id, kwargs))

    def create_branch(self, repo_id, **kwargs):
        self.calls.append(("create_branch", repo_id, kwargs))

    def upload_folder(self, **kwargs):
        self.calls.append(("upload_folder", kwargs["repo_id"], kwargs))
        return "commit-url"


@pytest.fixture
def packed(make_pairs_dir, tmp_path):
    records, _ = pairs_from_dir(make_pairs_dir(n=3), split="train")
    out = tmp_path / "ds"
    pack(records, out, progress=False)
    (out / ".cache").mkdir()
    (out / ".cache" / "junk").write_text("x")
    return out


def test_dry_run_lists_exact_files_and_sends_nothing(packed, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    api = RecordingApi()
    plan = push_folder(packed, "me/ggt", dry_run=True, api=api)
    assert api.calls == []
    paths = [p for p, _ in plan.files]
    assert paths == sorted(
        ["README.md", "assets/sample_grid.jpg", "ggt_dataset.json"]
        + [f"data/{c}/train-00000-of-00001.parquet" for c in ("general", "haze", "rain")]
    )
    assert all(size == (packed / p).stat().st_size for p, size in plan.files)
    assert "would upload 6 file(s)" in plan.describe() and "me/ggt@main (public)" in plan.describe()


def test_refuses_without_token(packed, monkeypatch, tmp_path):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))  # no stored login either
    monkeypatch.setattr("ggt_hf.hub.push.get_token", lambda: None)
    api = RecordingApi()
    with pytest.raises(PushError, match="set the HF_TOKEN environment variable"):
        push_folder(packed, "me/ggt", api=api)
    assert api.calls == []


def test_push_operations(packed, monkeypatch):
    monkeypatch.setattr("ggt_hf.hub.push.get_token", lambda: "hf_secret_token")
    api = RecordingApi()
    push_folder(packed, "me/ggt", private=True, revision="v1", api=api)
    names = [c[0] for c in api.calls]
    assert names == ["create_repo", "create_branch", "upload_folder"]
    create = api.calls[0][2]
    assert create["repo_type"] == "dataset" and create["private"] is True and create["exist_ok"] is True
    assert api.calls[1][2]["branch"] == "v1"
    upload = api.calls[2][2]
    assert upload["folder_path"] == packed and upload["repo_type"] == "dataset" and upload["revision"] == "v1"
    assert upload["delete_patterns"] == [
        "data/**",
        "negatives/**",
        "baseline/**",
        "unfiltered/**",
    ]  # stale shards removed remotely
    assert ".*" in upload["ignore_patterns"] and "**/.*" in upload["ignore_patterns"]
    assert upload["token"] == "hf_secret_token"
    assert "hf_secret_token" not in upload["commit_message"]


def test_invalid_folder_is_not_pushed(packed, monkeypatch):
    monkeypatch.setattr("ggt_hf.hub.push.get_token", lambda: "tok")
    (packed / "README.md").unlink()
    api = RecordingApi()
    with pytest.raises(DatasetValidationError, match="missing dataset card"):
        push_folder(packed, "me/ggt", api=api)
    assert api.calls == []
    assert plan_push(packed, "me/ggt").files  # planning alone still works


@pytest.mark.parametrize(
    "make_link",
    [
        pytest.param(lambda ds, tmp: (ds / "notes.txt").symlink_to("/etc/passwd"), id="file-outside"),
        pytest.param(lambda ds, tmp: (ds / "extra").symlink_to(tmp / "outside"), id="folder-outside"),
        pytest.param(lambda ds, tmp: (ds / "copy.md").symlink_to(ds / "README.md"), id="file-inside"),
    ],
)
def test_symlinks_are_refused_and_never_listed(packed, tmp_path, monkeypatch, make_link):
    """Issue 21 point 7: a dry run listed /etc/passwd (linked as notes.txt) and validate said OK."""
    from ggt_hf.hub.validate import validate_folder

    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "private.txt").write_text("secret")
    make_link(packed, tmp_path)
    link = next(p for p in packed.iterdir() if p.is_symlink()).name
    monkeypatch.setenv("HF_TOKEN", "hf_fake")
    api = RecordingApi()
    with pytest.raises(PushError, match=rf"1 entry refused, nothing sent .*{link}: .*symlink"):
        plan_push(packed, "me/ggt")
    with pytest.raises(PushError, match=link):
        push_folder(packed, "me/ggt", dry_run=True, check=False, api=api)
    with pytest.raises(PushError, match=link):
        push_folder(packed, "me/ggt", check=False, api=api)
    with pytest.raises(DatasetValidationError, match=link):
        push_folder(packed, "me/ggt", api=api)
    assert api.calls == []  # nothing created, nothing uploaded
    problems = validate_folder(packed, progress=False)
    assert [p.item for p in problems] == [link]


def test_hand_edits_kept_aside_by_pack_are_never_sent(packed, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_test")
    (packed / "README.user.md").write_text("my private notes")
    (packed / "eval.user-2.yaml").write_text("mine: 1")
    (packed / "notes.user.md").write_text("not a set-aside name: sent")
    plan = plan_push(packed, "me/ggt")
    paths = {p for p, _ in plan.files}
    assert "README.user.md" not in paths and "eval.user-2.yaml" not in paths
    assert "notes.user.md" in paths and "README.md" in paths
    api = RecordingApi()
    push_folder(packed, "me/ggt", api=api, check=False)
    ignore = api.calls[-1][2]["ignore_patterns"]  # upload_folder walks the folder itself
    import fnmatch

    assert any(fnmatch.fnmatchcase("README.user.md", p) for p in ignore)
    assert any(fnmatch.fnmatchcase("eval.user-2.yaml", p) for p in ignore)
    assert not any(fnmatch.fnmatchcase("notes.user.md", p) for p in ignore)
