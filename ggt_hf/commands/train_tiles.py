"""Build the tiled training view of a recipe's data ahead of training (``data.layout: tiles``), so the
first epoch does not pay for it: every map-style source of ``data.ggt`` and ``data.baseline`` is
decoded once and stored as lossless 128² tiles in ``data.tile_dir`` (a folder of its own, never the
dataset's), from which each training crop decodes only the tiles it covers. Re-running builds only
what is missing; a changed dataset gets a new view. Without this command the loader builds the view
on first use."""

from __future__ import annotations

HELP = "build the tiled training view (data.layout: tiles) of a training recipe's data"


def add_arguments(parser) -> None:
    parser.add_argument(
        "--config", required=True, help="restorer recipe YAML (training/recipes/<model>/<recipe>.yaml)"
    )
    parser.add_argument(
        "overrides",
        nargs="*",
        help="section.key=value overrides, e.g. data.tile_dir=ggt-tiles (required if unset)",
    )


def run(args) -> int:
    from ggt_hf.errors import UsageError
    from ggt_hf.recipes.loading import load_any_recipe
    from ggt_hf.training.data.tiles import build_tile_view

    recipe, kind = load_any_recipe(args.config, args.overrides)
    if kind != "restorer":
        raise UsageError(args.config, "the tiled layout serves crop training: give a restorer recipe")
    if not recipe.data.tile_dir:
        raise UsageError(
            args.config,
            "no data.tile_dir: name a folder for the view, e.g. `data.tile_dir=ggt-tiles` (and train with "
            "data.layout=tiles data.tile_dir=ggt-tiles)",
        )
    for path, summary in build_tile_view(recipe.data).items():
        print(
            f"{path}: {summary['items']} items, {summary['skipped']} skipped (bad), "
            f"{summary['bytes'] / 2**20:.2f} MiB in {recipe.data.tile_dir}"
        )
    return 0
