"""Convert an official release checkpoint (.pth) of a registry restorer into a Hub-ready folder
(model.safetensors + config.json + README.md) that ``ggt restore --model`` and ``load_restorer``
read. The .pth is read with ``torch.load(weights_only=True)`` (``--trust-pickle`` allows more, for a file
that needs it); pass only files you chose. Select the
official variant with ``--set`` (e.g. ``--set width=64 --set enc_blk_nums=[1,1,1,28]``)."""

from __future__ import annotations

import json

HELP = "convert an official restorer checkpoint (.pth) to safetensors + config.json"


def add_arguments(parser) -> None:
    parser.add_argument("--model", required=True, help="registry name (nafnet, swinir, mprnet, ...)")
    parser.add_argument(
        "--checkpoint",
        required=True,
        nargs="+",
        help="the official .pth file (daclip: daclip_ViT-B-32.pt universal-ir.pth, in that order)",
    )
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="config override (VALUE parsed as JSON, else a string); repeatable",
    )
    parser.add_argument(
        "--key",
        help="top-level key holding the weights (default: the model's layout; foundir: ema, or model)",
    )
    parser.add_argument(
        "--trust-pickle",
        action="store_true",
        help="allow torch.load(weights_only=False) for a file that needs it (can run code: trusted files only)",
    )


def parse_overrides(items: list[str]) -> dict:
    """``["width=64", "upsampler="]`` → ``{"width": 64, "upsampler": ""}``."""
    overrides = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--set expects FIELD=VALUE, got {item!r}")
        try:
            overrides[name.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            overrides[name.strip()] = raw
    return overrides


def run(args) -> int:
    from ggt_hf.hub.restorer_card import write_converted_card
    from ggt_hf.restorers import load_restorer
    from ggt_hf.restorers.convert import convert_checkpoint

    out = convert_checkpoint(
        args.model,
        args.checkpoint if len(args.checkpoint) > 1 else args.checkpoint[0],
        args.out,
        config_overrides=parse_overrides(args.set),
        state_dict_key=args.key,
        trust_pickle=args.trust_pickle,
    )
    write_converted_card(args.model, load_restorer(str(out), device="cpu"), out, args.checkpoint)
    print(f"converted {' + '.join(args.checkpoint)} → {out} (load with: ggt restore --model {out} IN OUT)")
    return 0
