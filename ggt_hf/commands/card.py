"""Regenerate README.md (dataset card), ggt_dataset.json and the sample grid of a packed folder
from its shards, optionally changing the card's metadata."""

from __future__ import annotations

HELP = "regenerate the dataset card, manifest and preview of a packed folder"


def add_arguments(parser) -> None:
    parser.add_argument("folder", help="packed dataset folder")
    parser.add_argument("--pretty-name")
    parser.add_argument("--license", help="dataset licence id for the card (e.g. cc-by-4.0)")
    parser.add_argument("--repo-id", help="Hub repo id shown in the card's loading examples")
    parser.add_argument("--description")


def run(args) -> int:
    from dataclasses import replace
    from pathlib import Path

    from ggt_hf.errors import UsageError
    from ggt_hf.files.output_folders import output_lock
    from ggt_hf.hub.card import finalize_folder, list_shards, read_card_info
    from ggt_hf.hub.pack import DATASET_LOCK, claim_dataset_folder

    if not Path(args.folder).is_dir():
        raise UsageError(args.folder, "no such folder (give a dataset folder that `ggt pack` wrote)")
    if not any(Path(args.folder).iterdir()):  # a card of nothing would be written, the folder claimed
        raise UsageError(args.folder, "empty folder (give a dataset folder that `ggt pack` wrote)")
    folder = claim_dataset_folder(args.folder)  # README.md of a folder that is not ggt's is never rewritten
    if not list_shards(folder):
        raise UsageError(args.folder, "no shards under data/: nothing to write a card for (run `ggt pack`)")
    with output_lock(folder, DATASET_LOCK):
        info = read_card_info(folder, None)
        changes = {
            k: getattr(args, k)
            for k in ("pretty_name", "license", "repo_id", "description")
            if getattr(args, k)
        }
        finalize_folder(folder, replace(info, **changes))
    print(f"{args.folder}: card, manifest and preview regenerated")
    return 0
