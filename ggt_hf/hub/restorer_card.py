"""Model-card content of a regression restorer (NAFNet, SwinIR, …), from its registry entry — the
one source of the card a trained run (:func:`ggt_hf.training.model_card.restorer_card_content`)
and ``ggt convert`` (:func:`write_converted_card`) write. It lives with the card renderer (tier
``hub``), above the architectures whose registry entries it reads.

Its snippets load the model where the card says it is (a local folder, or its Hub repo once pushed)
and run as typed: ``tests/restorers/test_card_snippets.py`` extracts and runs them.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from pathlib import Path

from ggt_hf.hub.card_render import CardContent, card_model_id, render_model_card_text


def usage_snippet(model_id: str) -> str:
    """The card's Python snippet: load the model at ``model_id`` and restore ``photo.jpg``."""
    return (
        "from PIL import Image\n\n"
        "from ggt_hf.restorers import load_restorer\n"
        "from ggt_hf.restorers.tiling import restore_image\n\n"
        f"model = load_restorer({json.dumps(model_id)})  # safetensors only\n"
        'restored = restore_image(model, Image.open("photo.jpg"), tile=512, overlap=32)\n'
        'restored.save("restored.png")'
    )


def restorer_card_content(
    name: str, model_id: str, num_parameters: int | None = None, *, origin: str
) -> CardContent:
    """:class:`CardContent` of registry restorer ``name`` found at ``model_id``; ``origin`` says
    where its weights come from ("trained with ggt-hf on …", "converted from …")."""
    from ggt_hf.restorers import get_restorer_class

    card = get_restorer_class(name).card
    intro = (
        f"A **{card.title}** image restorer {origin}.\n\n{card.description}\n\n"
        f"- Architecture: {card.title} — *{card.paper}* ([paper]({card.paper_url}), "
        f"[official code]({card.official_repo}))\n"
        f"- Parameters: {f'{num_parameters:,}' if num_parameters else 'n/a'}\n"
        f"- Official checkpoint layout: {card.checkpoint_layout}"
    )
    return CardContent(
        model_id=model_id,
        intro=intro,
        usage=usage_snippet(model_id),
        usage_note=(
            f"or from the command line: `ggt restore --model {shlex.quote(model_id)} photos/ restored/`."
        ),
        tags=[name],
        citation=card.citation,
    )


def write_converted_card(name: str, model, out_dir: Path, sources: Sequence[str | Path]) -> Path:
    """Write ``out_dir/README.md``, the card of an official checkpoint converted by ``ggt convert``
    (replacing the generic one ``save_pretrained`` writes); returns its path."""
    files = ", ".join(f"`{Path(s).name}`" for s in sources)
    content = restorer_card_content(
        name,
        card_model_id(out_dir),
        model.num_parameters(),
        origin=(
            f"converted with `ggt convert` from the official release checkpoint ({files}): the "
            "weights are the authors', not trained or evaluated by ggt-hf"
        ),
    )
    path = Path(out_dir) / "README.md"
    path.write_text(render_model_card_text(content), encoding="utf-8")
    return path
