"""Print the resolved run of a training recipe without training: the total batch split into
per-process batch × accumulation × processes (refused, with the reason, when it cannot divide),
steps, epochs over the configured data, learning-rate milestones, precision, clipping and the
estimated cache disk. ``--readme-table`` prints the README's table of every recipe instead."""

from __future__ import annotations

HELP = "print what a training recipe will run (batch split, steps, epochs, schedule, cache disk)"


def add_arguments(parser) -> None:
    parser.add_argument("--config", help="recipe YAML (training/recipes/<model>/<recipe>.yaml)")
    parser.add_argument("--num-processes", type=int, default=1, help="processes of the launch (default 1)")
    parser.add_argument(
        "--ggt-pairs",
        type=int,
        help="GGT pairs for epoch counts (default: counted when the data is on disk, else the paper's)",
    )
    parser.add_argument(
        "--readme-table", metavar="RECIPES_DIR", help="print the README recipe table of a folder"
    )
    parser.add_argument("overrides", nargs="*", help="section.key=value overrides, as the entry scripts take")


def run(args) -> int:
    from ggt_hf.recipes.plan import format_plan, plan_recipe, recipe_table
    from ggt_hf.training.batching import BatchSplitError

    if args.readme_table:
        print(recipe_table(args.readme_table))
        return 0
    if not args.config:
        raise ValueError("train-plan needs --config RECIPE (or --readme-table DIR)")
    try:
        plan = plan_recipe(args.config, args.num_processes, args.ggt_pairs, overrides=args.overrides)
    except BatchSplitError as exc:
        print(f"error: {args.config}: {exc}")
        return 1
    print(format_plan(plan))
    return 0
