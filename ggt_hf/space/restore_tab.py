"""The Restore tab: upload (or pick a bundled example), choose a restorer, compare before/after.

Endpoints (``gradio_client``)::

    out = client.predict(handle_file("photo.jpg"), "classical", api_name="/restore")
    slider, png_path, deltas, notice = out      # deltas: {"headers": [...], "data": [[...], ...]}
    client.predict(api_name="/restorers")       # the restorer choices of this Space

The output is a lossless PNG of the input's size (after the large-upload resize, which the notice
reports). Files that are not usable images raise ``gr.Error`` with the decoder's reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from ggt_hf.constants import IMAGE_EXTENSIONS
from ggt_hf.errors import GGTError
from ggt_hf.space.restoration import DEFAULT_RESTORER, DELTA_HEADERS, RestoreService

_INTRO = (
    "Upload a degraded photo (or pick an example), choose a restorer and compare before/after. "
    "`classical` is an offline, deterministic **baseline** (not a generative model); "
    "`classical:<category>` also forces that category's steps. The result downloads as a lossless PNG."
)


def _notice_md(notices: list[str], seconds: float, restorer: str, metrics_note: str) -> str:
    lines = [f"Restored with **{restorer}** in {seconds:.2f} s."]
    lines += [f"- ⚠ {n}" for n in notices]
    if metrics_note:
        lines.append(f"\n_{metrics_note}_")
    return "\n".join(lines)


def build_restore_tab(service: RestoreService) -> None:
    """Render the tab's components and events inside the current ``gr.Blocks``/``gr.Tab``."""
    choices = service.choices()
    gr.Markdown(_INTRO)
    with gr.Row():
        with gr.Column(scale=1):
            upload = gr.File(
                label="Degraded photo",
                file_types=sorted(IMAGE_EXTENSIONS),
                type="filepath",
                elem_id="ggt-restore-upload",
            )
            restorer = gr.Dropdown(
                choices=choices,
                value=DEFAULT_RESTORER,
                label="Restorer",
                elem_id="ggt-restore-choice",
            )
            run = gr.Button("Restore", variant="primary", elem_id="ggt-restore-run")
            gr.Examples(
                examples=[[p] for p in service.config.examples],
                inputs=[upload],
                label="Examples (degraded photos, one per category)",
                example_labels=[Path(p).stem for p in service.config.examples],
            )
        with gr.Column(scale=2):
            slider = gr.ImageSlider(
                label="Before / after (drag the handle)",
                type="filepath",
                format="png",
                interactive=False,
                max_height=640,
                elem_id="ggt-restore-slider",
            )
            notice = gr.Markdown(elem_id="ggt-restore-notice")
            result = gr.File(label="Restored image (lossless PNG)", elem_id="ggt-restore-download")
            deltas = gr.Dataframe(
                headers=DELTA_HEADERS,
                label="No-reference metric deltas (input → output)",
                interactive=False,
                elem_id="ggt-restore-deltas",
            )

    def restore(image: str | None, restorer_name: str | None) -> tuple[Any, ...]:
        """Restore the uploaded image with the chosen restorer.

        Returns the before/after pair, the restored PNG, the NR metric deltas and a notice."""
        if not image:
            raise gr.Error("Upload a photo or pick an example first.", print_exception=False)
        try:
            outcome = service.restore(image, restorer_name)
        except GGTError as exc:
            name = Path(image).name if exc.item == str(image) else exc.item
            raise gr.Error(f"{name}: {exc.reason}", print_exception=False) from None
        before, after = service.save_outcome(outcome, Path(image).stem)
        text = _notice_md(outcome.notices, outcome.seconds, outcome.restorer, outcome.metrics_note)
        return (before, after), after, outcome.deltas, text

    def restorers() -> list[str]:
        """The restorer choices of this Space, the default first."""
        return service.choices()

    run.click(
        restore,
        inputs=[upload, restorer],
        outputs=[slider, result, deltas, notice],
        api_name="restore",
        concurrency_limit=1,
        concurrency_id="ggt-restore",
    )
    gr.api(restorers, api_name="restorers")
