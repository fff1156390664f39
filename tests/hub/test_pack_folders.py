"""Issue 21, points 1-2: `ggt pack` never deletes or overwrites what it did not write, refuses an
output that overlaps its input, takes one lock per output folder, and validate catches leaks."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ggt_hf.cli import main
from ggt_hf.errors import LeakageError
from ggt_hf.files.file_lock import InUseError
from ggt_hf.files.output_folders import OutputFolderError
from ggt_hf.hub.card import list_shards
from ggt_hf.hub.pack import PackConfig, pack
from ggt_hf.hub.pairs import pairs_from_dir
from ggt_hf.hub.validate import validate_folder


def _files(root: Path) -> dict[str, bytes]:
    """Every regular file under ``root`` (relative path → bytes)."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _pack(pairs: Path, out: Path, split: str = "train", **config):
    records, problems = pairs_from_dir(pairs, split=split)
    return pack(records, out, PackConfig(**config), problems=problems, progress=False)


def test_repack_keeps_user_files_in_the_category_folder(make_pairs_dir, tmp_path):
    out = tmp_path / "ds"
    _pack(make_pairs_dir(n=12), out)
    rain = out / "data" / "rain"
    user = {
        "notes.txt": b"my notes",
        "backup/train-00000-of-00001.parquet": b"an old copy I keep",
        "old/lq/x.png": b"png-ish",
        "train-old.parquet": b"not a shard name",
    }
    for rel, data in user.items():
        (rain / rel).parent.mkdir(parents=True, exist_ok=True)
        (rain / rel).write_bytes(data)
    (rain / "link-to-notes").symlink_to("notes.txt")

    _pack(make_pairs_dir(n=18, name="more"), out)  # replaces data/rain/train-* with new shards

    for rel, data in user.items():
        assert (rain / rel).read_bytes() == data, rel
    assert (rain / "link-to-notes").is_symlink() and (rain / "link-to-notes").read_bytes() == b"my notes"
    assert sum(s.num_rows for s in list_shards(out)) == 18
    assert not [p for p in out.rglob(".*") if ".gen-" in p.name]


def test_pack_into_a_folder_of_user_files_is_refused_and_nothing_changes(make_pairs_dir, tmp_path):
    pairs = make_pairs_dir(n=4)
    userout = tmp_path / "userout"
    (userout / "assets").mkdir(parents=True)
    (userout / "README.md").write_text("# my project\n")
    (userout / "assets" / "logo.png").write_bytes(b"logo")
    before = _files(userout)
    assert main(["pack", str(pairs), str(userout)]) != 0
    assert _files(userout) == before  # README.md and assets/ byte-identical, nothing added
    with pytest.raises(OutputFolderError, match=r"README\.md.*choose a new or empty folder"):
        _pack(pairs, userout)
    assert _files(userout) == before


def test_source_inside_the_output_is_refused_and_the_source_survives(make_pairs_dir, tmp_path):
    x = tmp_path / "X"
    _pack(make_pairs_dir(n=6), x)  # X is a ggt dataset folder
    source = x / "data" / "rain"
    for side in ("lq", "hq"):  # 4 pairs = 8 source images kept inside X/data/rain
        shutil.copytree(make_pairs_dir(n=4, nested=False, name=f"src-{side}") / side, source / side)
    before = _files(source)
    assert len([p for p in before if p.endswith(".png")]) == 8
    assert main(["pack", str(source), str(x), "--category", "rain"]) != 0
    assert _files(source) == before


def test_same_folder_and_output_containing_input_are_refused(make_pairs_dir, tmp_path, capsys):
    pairs = make_pairs_dir(n=4)
    before = _files(pairs)
    assert main(["pack", str(pairs), str(pairs)]) != 0
    assert "must not overlap" in capsys.readouterr().err
    assert main(["pack", str(pairs), str(pairs / "lq" / "out")]) != 0  # output inside what is read
    assert _files(pairs) == before and not (pairs / "lq" / "out").exists()
    (tmp_path / "link").symlink_to(pairs)  # the same folder under another name
    assert main(["pack", str(pairs), str(tmp_path / "link")]) != 0
    assert _files(pairs) == before


def test_a_folder_ggt_packed_or_an_empty_one_is_accepted(make_pairs_dir, tmp_path):
    empty = tmp_path / "empty"
    (empty / ".git").mkdir(parents=True)  # a clone of an empty Hub repo counts as empty
    (empty / ".gitattributes").write_text("*.parquet filter=lfs\n")
    _pack(make_pairs_dir(n=4), empty)
    # a dataset downloaded from the Hub has the manifest but not the local marker
    (empty / ".ggt-output.json").unlink(missing_ok=True)
    _pack(make_pairs_dir(n=4, name="again", offset=10), empty)  # general, rain, low_light, old_photo
    assert sum(s.num_rows for s in list_shards(empty)) == 6  # + haze and snow of the first pack


_HOLDER = textwrap.dedent(
    """
    import sys
    from ggt_hf.files.output_folders import output_lock
    with output_lock(sys.argv[1]):
        print("locked", flush=True)
        sys.stdin.readline()
    """
)


def test_second_pack_into_one_output_is_refused_while_the_first_holds_it(make_pairs_dir, tmp_path):
    out = tmp_path / "ds"
    _pack(make_pairs_dir(n=6, name="train"), out)
    before = _files(out)
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(InUseError, match=rf"dataset folder in use by PID {holder.pid}"):
            _pack(make_pairs_dir(n=6, name="test"), out, "test")
    finally:
        holder.communicate("\n", timeout=30)
    assert _files(out) == before
    _pack(make_pairs_dir(n=6, name="test2", offset=20), out, "test")  # free again: goes ahead


def test_racing_packs_cannot_both_pass_the_leak_check(make_pairs_dir, tmp_path, monkeypatch):
    """Pack B starts while pack A is between its leak check and its swap: B is refused, so it
    never checks against the folder as it was before A wrote."""
    from ggt_hf.hub import pack as pack_module

    out = tmp_path / "ds"
    photos = make_pairs_dir(n=6, name="photos")
    copies = tmp_path / "copies"  # the same images under other ids: test pairs identical to train
    for path in photos.rglob("*.png"):
        target = copies / path.relative_to(photos).with_name(f"t{path.name}")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    real_write_groups = pack_module._write_groups
    seen = []

    def write_groups_then_race(*args, **kwargs):
        try:  # B, the same photos as test pairs, arrives now
            _pack(copies, out, "test")
        except InUseError as exc:
            seen.append(exc)
        return real_write_groups(*args, **kwargs)

    monkeypatch.setattr(pack_module, "_write_groups", write_groups_then_race)
    _pack(photos, out, "train")
    monkeypatch.undo()
    assert seen and "in use by PID" in seen[0].reason
    assert not list(out.glob("data/*/test-*.parquet"))
    with pytest.raises(LeakageError, match="6 test pair"):  # run after A, B sees A's train pairs
        _pack(copies, out, "test")


def test_validate_flags_lq_and_hq_shared_between_splits(make_pairs_dir, tmp_path):
    pairs = make_pairs_dir(n=6)
    out = tmp_path / "ds"
    _pack(pairs, out, "train")
    test = tmp_path / "test"
    for side in ("lq", "hq"):
        shutil.copytree(pairs / side / "rain", test / side / "rain")
    (test / "lq" / "rain" / "p1.png").rename(test / "lq" / "rain" / "t1.png")
    (test / "hq" / "rain" / "p1.png").rename(test / "hq" / "rain" / "t1.png")
    _pack(test, out, "test", force=True)
    problems = [str(p) for p in validate_folder(out, progress=False)]
    assert any("t1" in p and "LQ" in p and "p1" in p for p in problems), problems
    assert any("t1" in p and "HQ" in p and "p1" in p for p in problems), problems
    assert len(problems) == 1  # one problem per leaked test pair, naming both sides


def _release(root: Path, split: str, ids: list[str], seeds: list[int]) -> Path:
    from tests.hub.release_fixtures import image_bytes

    for pair_id, seed in zip(ids, seeds, strict=True):
        for role, offset in (("LQ", 0), ("GT", 1000)):
            path = root / split / "rain" / role / f"{pair_id}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(image_bytes(seed + offset, size=32))
    return root


def test_release_pack_checks_leaks_against_the_rows_it_keeps_and_refuses_user_folders(tmp_path):
    out = tmp_path / "ds"
    train = _release(tmp_path / "rel-train", "train", ["a1", "a2", "a3"], [1, 2, 3])
    assert main(["pack", str(train), str(out)]) == 0
    test = _release(tmp_path / "rel-test", "test", ["b1", "b2"], [2, 9])  # b1's LQ is a2's
    before = _files(out)
    assert main(["pack", str(test), str(out)]) != 0  # b1 leaks from the train rows already in out
    assert _files(out) == before
    assert main(["pack", str(test), str(out), "--force"]) == 0
    assert any("b1" in str(p) for p in validate_folder(out, progress=False))

    userout = tmp_path / "userout"
    userout.mkdir()
    (userout / "README.md").write_text("# mine\n")
    assert main(["pack", str(train), str(userout)]) != 0
    assert _files(userout) == {"README.md": b"# mine\n"}
    assert main(["pack", str(train), str(train / "train")]) != 0  # the output inside the release


def test_mirror_work_folder_must_be_ggts(tmp_path):
    """`ggt mirror --work` deletes its card/ scratch folder: a user's folder is refused first."""
    from ggt_hf.hub.layout import ReleaseSource, detect_layout
    from ggt_hf.hub.mirror import mirror_release

    release = _release(tmp_path / "rel", "train", ["a1"], [1])
    source = ReleaseSource(str(release))
    plan = detect_layout(source)
    work = tmp_path / "mywork"
    (work / "card").mkdir(parents=True)
    (work / "card" / "draft.md").write_text("my card draft")
    with pytest.raises(OutputFolderError, match="card"):
        mirror_release(plan, source, "someone/ds", work)
    assert _files(work) == {"card/draft.md": b"my card draft"}
    with pytest.raises(OutputFolderError, match="inside the input"):
        mirror_release(plan, source, "someone/ds", release / "work")


def test_a_file_written_into_the_category_during_the_swap_survives(make_pairs_dir, tmp_path, monkeypatch):
    """A note saved into data/rain/ after the new generation was linked but before the exchange
    ends up in the old generation: retiring it moves the note back, never deletes it."""
    from ggt_hf.hub import pack as pack_module

    out = tmp_path / "ds"
    _pack(make_pairs_dir(n=12), out)
    real_exchange = pack_module._exchange

    def exchange_after_a_late_note(a, b):
        if b.name == "rain":
            (b / "late-note.txt").write_text("saved mid-swap")
        return real_exchange(a, b)

    monkeypatch.setattr(pack_module, "_exchange", exchange_after_a_late_note)
    _pack(make_pairs_dir(n=12, name="more", offset=30), out)
    assert (out / "data" / "rain" / "late-note.txt").read_text() == "saved mid-swap"
    assert not [p for p in out.rglob(".*") if ".gen-" in p.name]


def test_a_killed_swap_loses_no_user_file_when_the_next_pack_cleans_up(make_pairs_dir, tmp_path, monkeypatch):
    from ggt_hf.hub import pack as pack_module

    out = tmp_path / "ds"
    _pack(make_pairs_dir(n=12), out)
    (out / "data" / "rain" / "notes.txt").write_text("mine")

    def killed_after_exchange(old, live, owned=frozenset()):  # the old generation: the only links left
        raise KeyboardInterrupt

    monkeypatch.setattr(pack_module, "_retire", killed_after_exchange)
    with pytest.raises(KeyboardInterrupt):
        _pack(make_pairs_dir(n=12, name="more", offset=30), out)
    monkeypatch.undo()
    _pack(make_pairs_dir(n=12, name="again", offset=60), out)  # cleans the dead run's generation
    assert (out / "data" / "rain" / "notes.txt").read_text() == "mine"
    assert not [p for p in out.rglob(".*") if ".gen-" in p.name]


def test_repack_deletes_only_the_shards_ggt_wrote(make_pairs_dir, tmp_path):
    """ATTACK 6b: a user's parquet named like a shard but not in ggt's manifest is never replaced
    or deleted: a re-pack (and `ggt card`) refuses the folder, naming it, before any work (the card
    would publish it as part of the split; a file of another schema crashed the card); once the
    user moves it away, packing goes on. A folder with no manifest (older ggt) is refused too."""
    out = tmp_path / "ds"
    _pack(make_pairs_dir(n=12), out)
    rain = out / "data" / "rain"
    before = {p.name: p.read_bytes() for p in rain.iterdir()}
    for content in ("copy", "other schema"):
        mine = rain / "train-00003-of-00007.parquet"
        if content == "copy":  # the user's own copy of a shard, under a shard name
            shutil.copy(next(rain.glob("train-00000-*.parquet")), mine)
        else:
            pq.write_table(pa.table({"mine": [1, 2, 3]}), mine)
        kept = mine.read_bytes()
        for split in ("train", "test"):
            with pytest.raises(OutputFolderError, match=r"train-00003-of-00007\.parquet"):
                _pack(make_pairs_dir(n=12, name=f"more{split}", offset=30), out, split=split)
            assert mine.read_bytes() == kept
        assert main(["card", str(out)]) == 2
        assert mine.read_bytes() == kept
        assert {p.name: p.read_bytes() for p in rain.iterdir() if p != mine} == before
        mine.rename(tmp_path / mine.name)
    _pack(make_pairs_dir(n=12, name="again", offset=30), out)  # moved away: packing goes on
    assert (tmp_path / "train-00003-of-00007.parquet").exists()

    older = tmp_path / "older"  # packed, then its manifest lost (an older or interrupted folder)
    _pack(make_pairs_dir(n=12, name="third", offset=60), older)
    (older / "ggt_dataset.json").unlink()
    (older / ".ggt-output.json").unlink()
    shards = {p: p.read_bytes() for p in (older / "data").rglob("train-*.parquet")}
    (older / "README.md").unlink()  # an otherwise empty folder: the user's "old shards" only
    with pytest.raises(OutputFolderError):  # no manifest, no marker: not recognisably ggt's
        _pack(make_pairs_dir(n=12, name="fourth", offset=90), older)
    assert all(p.read_bytes() == data for p, data in shards.items())


@pytest.mark.parametrize(
    "link", ["data", "data/rain", "assets", "negatives/rain", "README.md", "ggt_dataset.json"]
)
def test_symlinks_in_the_output_are_refused_before_any_work(make_pairs_dir, tmp_path, link):
    """ATTACK 6c: a symlinked data/, data/<category>, assets/ (or card/manifest) sent pack's writes and
    deletions into the user's folder elsewhere; now it is refused, naming the link, and the linked
    folder is untouched."""
    out = tmp_path / "ds"
    _pack(make_pairs_dir(n=12), out, split="train")
    elsewhere = tmp_path / "userdisk" / "target"
    path = out / link
    if path.is_dir() or link in ("negatives/rain",):
        if path.exists():
            shutil.copytree(path, elsewhere, symlinks=True)
            shutil.rmtree(path)
        else:
            elsewhere.mkdir(parents=True)
        (elsewhere / "a.txt").write_text("the user's")
        (elsewhere / "sample_grid.jpg").write_bytes(b"the user's picture")
    else:
        elsewhere.parent.mkdir(parents=True)
        shutil.copy(path, elsewhere)
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(elsewhere)
    before = _files(elsewhere) if elsewhere.is_dir() else elsewhere.read_bytes()
    with pytest.raises(OutputFolderError, match="is a symlink"):
        _pack(make_pairs_dir(n=12, name="more", offset=30), out, split="test", force=True)
    assert (_files(elsewhere) if elsewhere.is_dir() else elsewhere.read_bytes()) == before
    assert not [p for p in out.rglob(".*") if ".gen-" in p.name]


def test_hand_edited_card_and_eval_yaml_are_kept_aside_and_named(make_pairs_dir, tmp_path, caplog):
    """ATTACK 6d: a hand edit of README.md (or eval.yaml) was silently lost by the next pack; now
    the edited file is kept as README.user.md / eval.user.yaml with a warning naming it, the card is
    regenerated, and an unedited card is simply regenerated (no copy)."""
    out = tmp_path / "ds"
    _pack(make_pairs_dir(n=12), out, split="test")
    _pack(make_pairs_dir(n=12, name="b", offset=30), out, split="test")  # unedited: no copy made
    assert not list(out.glob("*.user*"))
    card = out / "README.md"
    card.write_text(card.read_text() + "\nMY HAND-WRITTEN SECTION\n")
    (out / "eval.yaml").write_text("my: own eval\n")
    with caplog.at_level("WARNING"):
        _pack(make_pairs_dir(n=12, name="c", offset=60), out, split="train", force=True)
    assert "MY HAND-WRITTEN SECTION" in (out / "README.user.md").read_text()
    assert (out / "eval.user.yaml").read_text() == "my: own eval\n"
    assert "MY HAND-WRITTEN SECTION" not in card.read_text() and "configs:" in card.read_text()
    assert "README.user.md" in caplog.text and "eval.user.yaml" in caplog.text
    card.write_text("edited again")
    _pack(make_pairs_dir(n=12, name="d", offset=90), out, split="train", force=True)
    assert (out / "README.user-2.md").read_text() == "edited again"  # the first copy is not overwritten
