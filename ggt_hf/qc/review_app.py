"""QC stage 3 in the browser: a Gradio app over the :class:`~ggt_hf.qc.review.ReviewQueue` of a run.

The app shows one pending item at a time (id, category, progress, prompt, the automatic QC checks,
LQ and HQ side by side and as a before/after slider, both served losslessly) with Accept, Reject
and Skip. Every decision goes straight to ``review.jsonl`` through :meth:`ReviewQueue.decide`, so
closing the browser (or killing the server) loses nothing, and reopening the page resumes at the
first undecided item. Skip writes nothing: it only moves on to the next undecided item (wrapping
round, so skipped items come back at the end).

Keyboard (:data:`REVIEW_JS`, passed to ``launch(js=...)`` by :func:`launch_review`): ``a`` accepts,
``r`` rejects (or, while the reason box is empty, puts the cursor in it), ``s`` skips. Keys typed
into a text field are never intercepted; in the reason box Enter rejects and Esc leaves the box.
Keys with Ctrl/Alt/Cmd held are left to the browser.

Every action is also an API endpoint for ``gradio_client`` (all return the same JSON view, see
:meth:`ReviewController.view`; errors such as a rejection without a reason raise ``gr.Error``,
which the client re-raises as ``AppError`` with the message)::

    from gradio_client import Client
    c = Client("http://127.0.0.1:7860/")
    view = c.predict(api_name="/current")                  # optional item_id=... : stay on it
    view = c.predict(view["item"]["id"], api_name="/accept")  # optional reason=, reviewer=
    view = c.predict(item_id, "blurred face", api_name="/reject")
    view = c.predict(item_id, api_name="/skip")
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ggt_hf.constants import CATEGORY_TITLES
from ggt_hf.errors import MissingExtraError
from ggt_hf.qc.review import ReviewItem, ReviewQueue

try:
    import gradio as gr
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise MissingExtraError("gradio", "space") from exc

#: Host the app binds to when neither ``host`` nor ``GRADIO_SERVER_NAME`` is given.
DEFAULT_HOST = "127.0.0.1"

#: Columns of the automatic-QC table.
CHECK_HEADERS = ["stage", "check", "passed", "value", "reason"]

#: Message of a rejection without a reason (UI and API).
REASON_REQUIRED = "A rejection needs a reason."
_REASON_HINT = "Type it in the reason box, then press Reject (or Enter in the box)."

#: Concurrency group of every event: decisions are applied one at a time.
_CONCURRENCY_ID = "ggt-review"

#: Keyboard shortcuts, run once when the page loads (pass it as ``launch(js=REVIEW_JS)``).
#: ``a`` / ``r`` / ``s`` click the Accept / Reject / Skip buttons (found by ``elem_id``); ``r`` with
#: an empty reason box focuses the box instead. Nothing happens while the focus is in a text field
#: (so reasons can contain those letters) or with a modifier key held; Esc leaves a text field and
#: Enter in the reason box submits the rejection (the Textbox ``submit`` event) and then leaves it.
REVIEW_JS = """
() => {
  if (window.__ggtReviewKeys) return;
  window.__ggtReviewKeys = true;
  const isTextField = (el) =>
    !!el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));
  const button = (id) => {
    const el = document.getElementById(id);
    if (!el) return null;
    return el.tagName === "BUTTON" ? el : el.querySelector("button");
  };
  const press = (id) => {
    const b = button(id);
    if (b && !b.disabled && b.offsetParent !== null) b.click();
  };
  const reasonBox = () => document.querySelector("#ggt-reason textarea, #ggt-reason input");
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    const target = (event.composedPath && event.composedPath()[0]) || event.target;
    if (isTextField(target)) {
      if (event.key === "Escape") target.blur();
      else if (event.key === "Enter" && target === reasonBox()) setTimeout(() => target.blur(), 0);
      return;
    }
    if (event.repeat) return;
    const key = (event.key || "").toLowerCase();
    if (key === "a") {
      event.preventDefault();
      press("ggt-accept");
    } else if (key === "r") {
      event.preventDefault();
      const box = reasonBox();
      if (box && !box.value.trim()) box.focus();
      else press("ggt-reject");
    } else if (key === "s") {
      event.preventDefault();
      press("ggt-skip");
    }
  });
}
"""

#: Small layout tweaks (pass it as ``launch(css=REVIEW_CSS)``).
REVIEW_CSS = """
#ggt-message.ggt-error, #ggt-message .ggt-error { color: var(--error-text-color, #b91c1c); }
#ggt-actions { align-items: end; }
"""

_KEYS_HELP = (
    "Keys: **a** accept · **r** reject (type the reason first; **r** on an empty box jumps into it, "
    "**Enter** there rejects, **Esc** leaves it) · **s** skip. Decisions are saved immediately; "
    "reopen the page to resume at the first undecided item."
)


class ReviewActionError(ValueError):
    """An action that cannot be applied (no reason for a rejection, unknown item, ...)."""


class ReviewController:
    """What the review app shows and what its buttons do, without any Gradio: a thin layer over
    :class:`ReviewQueue` that picks the item to show and renders the JSON view of the endpoints."""

    def __init__(self, run_dir: str | Path, reviewer: str | None = None) -> None:
        self.queue = ReviewQueue(run_dir)
        self.run_dir = self.queue.run_dir
        self.reviewer = reviewer

    # -- reading ---------------------------------------------------------------------------------

    def view(self, item_id: str | None = None, *, stay: bool = True, message: str = "") -> dict[str, Any]:
        """The view after an action: the item to review next, the progress and a message.

        The item is ``item_id`` itself when it is still undecided and ``stay`` is true, else the
        first undecided item after it in id order, wrapping round to the first undecided item
        (with no ``item_id``: the first undecided item, i.e. the resume point).

        Returns a JSON-able dict: ``done`` (nothing pending), ``item`` (``None`` when done, else
        ``id``, ``category``, ``prompt``, ``checks``, ``lq`` and ``hq`` as absolute paths), ``progress``
        (``reviewed``, ``total``, ``accepted``, ``rejected``, ``pending``), ``summary`` (``"12 / 40
        reviewed ..."`` or ``"All 40 items reviewed ..."``), ``message`` and ``run_dir``.
        """
        item_id = item_id or None
        if stay and item_id is not None and self.queue.is_pending(item_id):
            item = self.queue.item(item_id)
        else:
            item = self.queue.next_pending(after=item_id)
        progress = self.queue.progress()
        accepted, rejected, reviewed, total = (
            progress[k] for k in ("accepted", "rejected", "reviewed", "total")
        )
        counts = f"{accepted} accepted, {rejected} rejected"
        if total == 0:
            summary = "No items to review: automatic QC has not accepted any candidate in this run yet"
        elif item is None:
            summary = f"All {total} items reviewed ({counts})"
        else:
            summary = f"{reviewed} / {total} reviewed ({counts})"
        return {
            "run_dir": str(self.run_dir),
            "done": item is None,
            "item": _item_json(item),
            "progress": progress,
            "summary": summary,
            "message": message,
        }

    # -- actions ---------------------------------------------------------------------------------

    def decide(
        self, item_id: str | None, decision: str, reason: str | None = None, reviewer: str | None = None
    ) -> dict[str, Any]:
        """Persist ``decision`` (``accept``/``reject``) for ``item_id``; the view of the next item.

        Raises:
            ReviewActionError: no item id, a rejection without a reason, or an item that is not
                awaiting review (unknown id, or not accepted by the automatic QC). Nothing is written.
        """
        item_id = (item_id or "").strip()
        reason = (reason or "").strip() or None
        if not item_id:
            raise ReviewActionError("No item to decide on (all items may already be reviewed).")
        if decision == "reject" and not reason:
            raise ReviewActionError(REASON_REQUIRED)
        try:
            self.queue.decide(item_id, decision, reason=reason, reviewer=reviewer or self.reviewer)
        except KeyError:
            raise ReviewActionError(
                f"{item_id!r} is not awaiting review in this run (unknown id, or not accepted by the "
                "automatic QC)."
            ) from None
        verb = {"accept": "Accepted", "reject": "Rejected"}[decision]
        message = f"{verb} {item_id}" + (f" ({reason})" if reason else "") + "."
        return self.view(item_id, stay=False, message=message)

    def accept(self, item_id: str | None, reason: str | None = None, reviewer: str | None = None) -> dict:
        """Accept ``item_id`` (an optional note as ``reason``); the view of the next item."""
        return self.decide(item_id, "accept", reason, reviewer)

    def reject(self, item_id: str | None, reason: str | None, reviewer: str | None = None) -> dict:
        """Reject ``item_id``; ``reason`` is required. The view of the next item."""
        return self.decide(item_id, "reject", reason, reviewer)

    def skip(self, item_id: str | None) -> dict[str, Any]:
        """Move past ``item_id`` without deciding (it comes back after the other undecided items)."""
        item_id = (item_id or "").strip()
        view = self.view(item_id or None, stay=False)
        if not item_id or view["done"]:
            return view
        following = view["item"]["id"]
        view["message"] = (
            f"Skipped {item_id}: it is the only undecided item left."
            if following == item_id
            else f"Skipped {item_id} (no decision written; it comes back later)."
        )
        return view


def _item_json(item: ReviewItem | None) -> dict[str, Any] | None:
    if item is None:
        return None
    return {
        "id": item.id,
        "category": item.category,
        "prompt": item.prompt,
        "checks": [dict(check) for check in item.checks],
        "lq": str(item.lq_path),
        "hq": str(item.hq_path),
    }


def _check_rows(checks: Sequence[dict[str, Any]]) -> list[list[Any]]:
    rows = []
    for check in checks:
        value = check.get("value")
        if isinstance(value, float):
            value = f"{value:.4g}"
        passed = check.get("passed")
        rows.append(
            [
                check.get("stage", ""),
                check.get("name", ""),
                "✓" if passed else ("✗" if passed is not None else ""),
                "" if value is None else str(value),
                check.get("reason") or "",
            ]
        )
    return rows


def _message_md(text: str, error: bool = False) -> str:
    if not text:
        return ""
    return f'<span class="ggt-error">⚠ {text}</span>' if error else text


def build_review_app(run_dir: str | Path, *, reviewer: str | None = None) -> gr.Blocks:
    """The review UI over the :class:`ReviewQueue` of ``run_dir`` (see the module docstring).

    ``reviewer`` is recorded with every decision made in the UI (a logged-in user's name, when the
    app is launched with ``auth``, takes precedence). Launch it with :func:`launch_review`, or pass
    ``js=REVIEW_JS, css=REVIEW_CSS, allowed_paths=[run_dir]`` to ``launch()`` yourself (without the
    js there are no keyboard shortcuts).

    Raises:
        FileNotFoundError: ``run_dir`` is not a build run folder.
    """
    ctl = ReviewController(run_dir, reviewer=reviewer)

    with gr.Blocks(title=f"GGT review · {ctl.run_dir.name}") as app:
        current_id = gr.State(None)
        gr.Markdown(f"## GGT quality control, stage 3: human review\nRun folder: `{ctl.run_dir}`")
        header = gr.Markdown(elem_id="ggt-header")
        done = gr.Markdown(visible=False, elem_id="ggt-done")
        with gr.Column() as panel:
            with gr.Row(equal_height=True):
                image_kw: dict[str, Any] = {
                    "type": "filepath",
                    "format": "png",
                    "interactive": False,
                    "buttons": ["download", "fullscreen"],
                }
                lq = gr.Image(label="LQ (degraded input)", elem_id="ggt-lq", **image_kw)
                hq = gr.Image(label="HQ (generated candidate)", elem_id="ggt-hq", **image_kw)
            slider = gr.ImageSlider(
                label="Before / after (drag the handle): LQ | HQ",
                type="filepath",
                format="png",
                interactive=False,
                buttons=["fullscreen"],
                max_height=768,
                elem_id="ggt-slider",
            )
            prompt = gr.Textbox(label="Prompt", interactive=False, lines=2, max_lines=8, buttons=["copy"])
            checks = gr.Dataframe(
                headers=CHECK_HEADERS,
                label="Automatic QC checks",
                interactive=False,
                wrap=True,
                max_height=320,
            )
            with gr.Row(elem_id="ggt-actions"):
                reason = gr.Textbox(
                    label="Reason (required to reject, optional note when accepting)",
                    placeholder="e.g. face changed, text hallucinated, colour shift ...",
                    elem_id="ggt-reason",
                    scale=4,
                )
                accept_btn = gr.Button("Accept [a]", variant="primary", elem_id="ggt-accept", scale=1)
                reject_btn = gr.Button("Reject [r]", variant="stop", elem_id="ggt-reject", scale=1)
                skip_btn = gr.Button("Skip [s]", variant="secondary", elem_id="ggt-skip", scale=1)
        message = gr.Markdown(elem_id="ggt-message")
        gr.Markdown(_KEYS_HELP)

        outputs = [current_id, header, done, panel, lq, hq, slider, prompt, checks, reason, message]

        def render(view: dict[str, Any], *, error: str = "") -> tuple:
            item = view["item"]
            text = _message_md(error or view["message"], error=bool(error))
            if item is None:
                return (
                    None,
                    "",
                    gr.Markdown(f"### {view['summary']}", visible=True),
                    gr.Column(visible=False),
                    None,
                    None,
                    None,
                    "",
                    [],
                    "",
                    text,
                )
            title = CATEGORY_TITLES.get(item["category"], item["category"])
            return (
                item["id"],
                f"### {item['id']} · {title}\n**{view['summary']}**",
                gr.Markdown(visible=False),
                gr.Column(visible=True),
                item["lq"],
                item["hq"],
                (item["lq"], item["hq"]),
                item["prompt"] or "(no prompt recorded)",
                _check_rows(item["checks"]),
                "",
                text,
            )

        def user(request: gr.Request | None) -> str | None:
            return getattr(request, "username", None) or ctl.reviewer

        def ui_show(item_id: str | None) -> tuple:
            return render(ctl.view(item_id))

        def ui_accept(item_id: str | None, note: str, request: gr.Request) -> tuple:
            try:
                return render(ctl.accept(item_id, note, reviewer=user(request)))
            except ReviewActionError as exc:
                return _keep(outputs, _message_md(str(exc), error=True))

        def ui_reject(item_id: str | None, why: str, request: gr.Request) -> tuple:
            try:
                return render(ctl.reject(item_id, why, reviewer=user(request)))
            except ReviewActionError as exc:
                text = f"{exc} {_REASON_HINT}" if str(exc) == REASON_REQUIRED else str(exc)
                gr.Warning(text)
                return _keep(outputs, _message_md(text, error=True))

        def ui_skip(item_id: str | None) -> tuple:
            return render(ctl.skip(item_id))

        ui = {"outputs": outputs, "api_visibility": "private", "concurrency_id": _CONCURRENCY_ID}
        app.load(ui_show, inputs=[current_id], **ui)
        accept_btn.click(ui_accept, inputs=[current_id, reason], **ui)
        reject_btn.click(ui_reject, inputs=[current_id, reason], **ui)
        reason.submit(ui_reject, inputs=[current_id, reason], **ui)
        skip_btn.click(ui_skip, inputs=[current_id], **ui)

        # -- API endpoints (gradio_client) -------------------------------------------------------

        def _api(call, *args) -> dict:
            try:
                return call(*args)
            except ReviewActionError as exc:
                raise gr.Error(str(exc), print_exception=False) from None

        def current(item_id: str = "") -> dict:
            """The item to review: ``item_id`` if still undecided, else the next undecided one
            (default: the first undecided item). Returns the review view as JSON."""
            return ctl.view(item_id or None)

        def accept(item_id: str, reason: str = "", reviewer: str = "") -> dict:
            """Accept ``item_id`` (``reason``: an optional note); returns the view of the next item."""
            return _api(ctl.accept, item_id, reason, reviewer or None)

        def reject(item_id: str, reason: str, reviewer: str = "") -> dict:
            """Reject ``item_id``; ``reason`` is required. Returns the view of the next item."""
            return _api(ctl.reject, item_id, reason, reviewer or None)

        def skip(item_id: str) -> dict:
            """Move past ``item_id`` without a decision; returns the view of the next item."""
            return ctl.skip(item_id)

        for fn in (current, accept, reject, skip):
            gr.api(fn, api_name=fn.__name__, concurrency_id=_CONCURRENCY_ID)

    return app


def _keep(outputs: Sequence[Any], message: str) -> tuple:
    """Leave every output as it is except the message (the last one)."""
    return (*(gr.skip() for _ in outputs[:-1]), message)


def resolve_address(host: str | None = None, port: int | None = None) -> tuple[str, int | None]:
    """``host``/``port``, else ``GRADIO_SERVER_NAME``/``GRADIO_SERVER_PORT``, else 127.0.0.1 and
    ``None`` (Gradio then takes the first free port from 7860)."""
    host = host or os.environ.get("GRADIO_SERVER_NAME") or DEFAULT_HOST
    if port is None and os.environ.get("GRADIO_SERVER_PORT"):
        try:
            port = int(os.environ["GRADIO_SERVER_PORT"])
        except ValueError:
            raise ValueError(
                f"GRADIO_SERVER_PORT must be a port number, got {os.environ['GRADIO_SERVER_PORT']!r}"
            ) from None
    return host, port


def launch_review(
    run_dir: str | Path,
    host: str | None = None,
    port: int | None = None,
    *,
    reviewer: str | None = None,
    prevent_thread_lock: bool = False,
    **launch_kwargs: Any,
) -> gr.Blocks:
    """Build the review app for ``run_dir`` and serve it (see :func:`resolve_address` for the
    address). Blocks until Ctrl+C unless ``prevent_thread_lock``; returns the running app (its
    ``local_url`` is the address; call ``close()`` to stop it). Extra keyword arguments go to
    ``Blocks.launch`` (e.g. ``auth``, ``quiet``); the run folder is added to ``allowed_paths`` so
    images are served as they are (lossless)."""
    app = build_review_app(run_dir, reviewer=reviewer)
    host, port = resolve_address(host, port)
    allowed = [str(Path(run_dir).resolve()), *(launch_kwargs.pop("allowed_paths", None) or [])]
    launch_kwargs.setdefault("js", REVIEW_JS)
    launch_kwargs.setdefault("css", REVIEW_CSS)
    app.launch(
        server_name=host,
        server_port=port,
        prevent_thread_lock=True,
        allowed_paths=allowed,
        **launch_kwargs,
    )
    if not prevent_thread_lock:
        try:
            app.block_thread()
        finally:
            app.close()
    return app
