"""Publish a packed dataset folder to a Hugging Face dataset repo (validated first). The token
comes from HF_TOKEN or `hf auth login`. --dry-run lists exactly what would be sent, offline."""

from __future__ import annotations

HELP = "upload a packed dataset folder to the Hugging Face Hub"


def add_arguments(parser) -> None:
    parser.add_argument("folder", help="packed dataset folder")
    parser.add_argument("repo_id", help="dataset repo id, e.g. your-name/my-ggt-data")
    parser.add_argument("--private", action="store_true", help="create the repo as private")
    parser.add_argument("--revision", help="branch to push to (created if missing)")
    parser.add_argument("--dry-run", action="store_true", help="list what would be uploaded; send nothing")
    parser.add_argument("--no-check", action="store_true", help="skip `ggt validate` before pushing")


def run(args) -> int:
    from pathlib import Path

    from ggt_hf.errors import UsageError
    from ggt_hf.hub.push import push_folder
    from ggt_hf.runtime.network import require_hub

    if not Path(args.folder).is_dir():
        raise UsageError(args.folder, "no such dataset folder (run `ggt pack` first)")
    if not args.dry_run:
        require_hub("ggt push")
    plan = push_folder(
        args.folder,
        args.repo_id,
        private=args.private,
        revision=args.revision,
        dry_run=args.dry_run,
        check=not args.no_check,
    )
    if args.dry_run:
        print(plan.describe())
        print("dry run: nothing was sent")
    else:
        print(f"pushed {len(plan.files)} file(s) to https://huggingface.co/datasets/{args.repo_id}")
    return 0
