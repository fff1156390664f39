"""One rule for "Hub repo id or local folder?" (ggt_hf.hub.locations), and every caller on it."""

from __future__ import annotations

import pytest

from ggt_hf.commands._common import check_dataset_arg
from ggt_hf.errors import UsageError
from ggt_hf.evaluation.references import is_packed
from ggt_hf.hub.eval_results import EvalResultsError, hub_dataset_id
from ggt_hf.hub.locations import HUB_ID_RULE, hub_repo_id, is_hub_id, resolve_location
from ggt_hf.leaderboard.table import model_link
from ggt_hf.training.model_card import hub_datasets


@pytest.fixture
def cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # nothing here may reach the network
    return tmp_path


def test_an_existing_folder_named_like_a_repo_id_is_the_folder(cwd):
    (cwd / "org" / "name").mkdir(parents=True)
    location = resolve_location("org/name")
    assert not location.is_hub and location.path.resolve() == (cwd / "org" / "name").resolve()
    assert not is_hub_id("org/name") and hub_repo_id("org/name") == "org/name"  # the text alone is an id


def test_a_repo_id_with_no_such_folder_is_the_hub(cwd):
    location = resolve_location("org/name")
    assert location.is_hub and location.repo_id == "org/name" and location.path is None


@pytest.mark.parametrize(
    "text", ["./org/name", "../org/name", "/no/such/org/name", "~/no-such-ggt-folder", "org\\name"]
)
def test_text_written_as_a_path_is_never_sent_to_the_hub(cwd, text):
    with pytest.raises(UsageError) as caught:
        resolve_location(text, "--dataset")
    assert str(caught.value).startswith(f"--dataset {text}: no such folder (")
    assert "Hub repo id" not in str(caught.value)  # a typo in a path is a missing folder


@pytest.mark.parametrize("text", ["demo_out/dataset", "demo_out/build/datasett", "demo_out/a/b"])
def test_a_missing_path_in_a_local_folder_is_never_sent_to_the_hub(cwd, text):
    """``demo_out/dataset`` after ``ggt demo demo_out`` (the dataset is demo_out/build/dataset) was
    the Hub repo of a namespace ``demo_out``: a network error instead of "no such folder"."""
    (cwd / "demo_out" / "build" / "dataset").mkdir(parents=True)
    assert not is_hub_id(text)
    with pytest.raises(UsageError) as caught:
        resolve_location(text, "--dataset")
    message = str(caught.value)
    assert message.startswith(f"--dataset {text}: no such folder ({(cwd / text).resolve()})")
    assert "demo_out/ is a folder here, so this names a path in it" in message
    assert HUB_ID_RULE not in message


def test_the_refusal_names_the_path_one_folder_down(cwd):
    (cwd / "demo_out" / "build" / "dataset").mkdir(parents=True)
    with pytest.raises(
        UsageError, match=r"; did you mean demo_out/build/dataset\? \(demo_out/ is a folder here"
    ):
        resolve_location("demo_out/dataset")
    with pytest.raises(UsageError, match="; to use the Hub repo demo_out/dataset, run from a folder without"):
        resolve_location("demo_out/dataset")
    (cwd / "demo_out" / "other" / "dataset").mkdir(parents=True)
    with pytest.raises(UsageError, match="did you mean demo_out/build/dataset or demo_out/other/dataset\\?"):
        resolve_location("./demo_out/dataset")  # written as a path: the same suggestion
    with pytest.raises(UsageError) as caught:
        resolve_location("demo_out/nothing")
    assert "did you mean" not in str(caught.value)


def test_a_hub_id_whose_namespace_is_a_file_or_not_here_is_the_hub(cwd):
    (cwd / "me").write_text("not a folder")
    assert resolve_location("me/ggt-100k").repo_id == "me/ggt-100k" and is_hub_id("me/ggt-100k")
    (cwd / "other").mkdir()
    assert resolve_location("you/ggt-100k").is_hub  # only the namespace's own folder counts


def test_dot_slash_names_an_existing_folder(cwd):
    (cwd / "org" / "name").mkdir(parents=True)
    assert resolve_location("./org/name").path is not None
    assert resolve_location(str(cwd / "org" / "name")).path is not None  # absolute


@pytest.mark.parametrize(
    "text", ["no_such", "a/b/c", "org/na me", "org/name@main", "org--x/name", "org/..name", "org/name.git"]
)
def test_invalid_ids_are_refused_with_the_one_message(cwd, text):
    with pytest.raises(UsageError) as caught:
        resolve_location(text, "--dataset")
    message = str(caught.value)
    assert message.startswith(f"--dataset {text}: no such folder (")
    assert message.endswith(f"and not a Hub repo id ({HUB_ID_RULE})")


def test_an_existing_file_is_local(cwd):
    (cwd / "org").mkdir()
    (cwd / "org" / "name").write_text("x")
    assert resolve_location("org/name").path is not None


# ------------------------------------------------------------ every caller answers the same


def test_check_dataset_arg_uses_the_rule(cwd):
    (cwd / "data" / "ggt").mkdir(parents=True)
    check_dataset_arg("data/ggt")  # a folder: no Hub, no network
    with pytest.raises(UsageError, match=r"--dataset ./data/gtt: no such folder"):
        check_dataset_arg("./data/gtt")
    with pytest.raises(UsageError, match="not a Hub repo id"):
        check_dataset_arg("a/b/c")


def test_check_dataset_arg_refuses_a_missing_path_in_a_local_folder_offline(cwd):
    """Offline (the fixture) the old rule sent demo_out/dataset to the Hub: a network error."""
    (cwd / "demo_out" / "build" / "dataset").mkdir(parents=True)
    with pytest.raises(UsageError, match=r"--dataset demo_out/dataset: no such folder .*did you mean"):
        check_dataset_arg("demo_out/dataset")


def test_references_refuse_what_is_neither_instead_of_asking_the_hub(cwd):
    assert is_packed("me/ggt-100k")
    with pytest.raises(UsageError, match=r"--dataset ./typo: no such folder"):
        is_packed("./typo")  # before: True (sent to the Hub as a repo id)
    (cwd / "me" / "ggt-100k").mkdir(parents=True)
    (cwd / "me" / "ggt-100k" / "a.png").write_bytes(b"")
    assert not is_packed("me/ggt-100k")  # the folder of photos, not the Hub repo


def test_eval_results_dataset_id_uses_the_rule(cwd):
    assert hub_dataset_id("me/ggt-100k") == "me/ggt-100k"
    with pytest.raises(UsageError, match="not a Hub repo id"):
        hub_dataset_id("a/b/c")
    with pytest.raises(UsageError, match="no such folder"):
        hub_dataset_id("./me/ggt-100k")  # before: accepted as the Hub id "./me/ggt-100k"
    (cwd / "me" / "ggt-100k").mkdir(parents=True)
    with pytest.raises(EvalResultsError, match="a local folder has no Hub id"):
        hub_dataset_id("me/ggt-100k")


def test_model_card_lists_hub_sources_by_the_rule(cwd):
    from types import SimpleNamespace

    (cwd / "data" / "ggt").mkdir(parents=True)
    sources = [SimpleNamespace(path=p) for p in ("data/ggt", "me/ggt-100k", "me/bad--id", "./me/x")]
    recipe = SimpleNamespace(data=SimpleNamespace(ggt=sources, baseline=[]))
    assert hub_datasets(recipe) == ["me/ggt-100k"]


def test_leaderboard_links_only_hub_repo_ids(cwd):
    assert model_link("m", "me/model") == "[m](https://huggingface.co/me/model)"
    for repo in (
        "/srv/models/x",
        "./me/model",
        "me/model/extra",
        "me/mo del",
        "me/model@main",
        "me--x/m",
        None,
    ):
        assert model_link("m", repo) == "m", repo
