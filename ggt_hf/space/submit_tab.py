"""The Submit tab: (a) a zip of test-split predictions, (b) a Hub model id of a registry restorer.

Both are validated by :mod:`ggt_hf.leaderboard` (zip limits, traversal, symlinks, non-images, ids
and sizes; Hub repo ids only — never a path on the server — pinned to the repo's current commit,
safetensors-only, no remote code) and queued as a request; every refusal counts against the
submitter's rate limit. The worker
(``ggt leaderboard worker``) scores it. Endpoints (``gradio_client``)::

    request, message = client.predict(handle_file("preds.zip"), "my-model", "", api_name="/submit_predictions")
    request, message = client.predict("user/nafnet-ggt", api_name="/submit_model")
    request, message = client.predict(request["request_id"], api_name="/request_status")

``request`` is the request record (``request_id``, ``status`` PENDING/RUNNING/FINISHED/FAILED,
``reason``, ...). Invalid submissions raise ``gr.Error`` whose message lists every problem found.
The submitter is the signed-in Hugging Face account (required when the Space runs with sign-in),
else ``anonymous@<peer address>`` (:func:`ggt_hf.space.visitors.visitor`): the rate-limit key and
the owner of a new model name's row. A name another account owns is refused (only its owner or a
configured admin may replace that row).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict, is_dataclass
from typing import Any

import gradio as gr

from ggt_hf.errors import GGTError
from ggt_hf.space.config import SpaceConfig
from ggt_hf.space.visitors import visitor

logger = logging.getLogger(__name__)

_HOW = (
    "**(a) Predictions**: a zip with one image per test-split id, named `<id>.png` (or another image "
    "format), each the size of its LQ image. **(b) A model**: a Hub repo of a ggt-hf registry restorer "
    "(`config.json` with `model_type`, weights as `model.safetensors`; pickles and remote code are "
    "refused). Both are queued and scored by the leaderboard worker; look the request id up below."
)


def _record(obj: Any) -> dict[str, Any]:
    if is_dataclass(obj):
        return asdict(obj)
    return obj.to_json() if hasattr(obj, "to_json") else dict(obj)


def _message(record: dict[str, Any]) -> str:
    text = f"Request `{record['request_id']}` for **{record['model']}**: **{record['status']}**"
    if record.get("reason"):
        text += f" — {record['reason']}"
    if record.get("result_file"):
        text += f" (result: `{record['result_file']}`)"
    return text


def _error_text(exc: GGTError, prefix: str = "Submission rejected") -> str:
    problems = getattr(exc, "problems", None) or []
    if len(problems) > 1:
        lines = [f"{getattr(p, 'item', '')}: {getattr(p, 'reason', p)}" for p in problems]
        return f"{prefix}:\n" + "\n".join(f"- {line}" for line in lines)
    return f"{prefix}: {exc.item}: {exc.reason}"


class SubmissionService:
    """The Submit tab's actions over a leaderboard store (the test split's ids are read once)."""

    def __init__(self, store: Any, config: SpaceConfig, hub_api: Any = None, after_write: Any = None) -> None:
        """``after_write`` is called after each submission (the Space bounds its temp folder)."""
        self.store = store
        self.after_write = after_write
        self.config = config
        #: the ``HfApi`` model submissions are checked through (``None``: a default one)
        self.hub_api = hub_api
        self._expected: dict[str, tuple[int, int]] | None = None
        self._lock = threading.Lock()

    def expected(self) -> dict[str, tuple[int, int]]:
        """Test-split id → (width, height) of the configured dataset."""
        from ggt_hf.leaderboard import expected_images

        if not self.config.dataset:
            raise GGTError("dataset", "this Space has no test split configured (GGT_SPACE_DATASET)")
        with self._lock:
            if self._expected is None:
                self._expected = expected_images(self.config.dataset, split="test")
            return self._expected

    def _rate_limit(self) -> Any:
        from ggt_hf.leaderboard import RateLimit

        return RateLimit(max_requests=self.config.rate_limit, window_hours=24)

    def predictions(self, zip_path: str, model: str, model_repo: str, user: str) -> dict[str, Any]:
        """Validate and queue a predictions zip; the request record."""
        from ggt_hf.leaderboard import submit_predictions

        model = (model or "").strip()
        if not model:
            raise GGTError("model", "give the model a name")
        try:
            request = submit_predictions(
                self.store,
                zip_path,
                model=model,
                user=user,
                expected=self.expected(),
                rate_limit=self._rate_limit(),
                model_repo=(model_repo or "").strip() or None,
                admins=self.config.admins,
            )
        finally:
            if self.after_write is not None:
                self.after_write()
        return _record(request)

    def model(self, repo_id: str, user: str) -> dict[str, Any]:
        """Check a Hub model repo id, pin it to its current commit and queue it; the request record."""
        from ggt_hf.leaderboard import submit_model

        request = submit_model(
            self.store,
            repo_id or "",
            user=user,
            rate_limit=self._rate_limit(),
            api=self.hub_api,
            admins=self.config.admins,
        )
        return _record(request)

    def status(self, request_id: str) -> dict[str, Any]:
        """The current record of ``request_id``."""
        request_id = (request_id or "").strip()
        if not request_id:
            raise GGTError("request", "give a request id")
        return _record(self.store.get_request(request_id))


def _guard(call, *args, prefix: str = "Submission rejected") -> tuple[dict[str, Any], str]:
    try:
        record = call(*args)
    except GGTError as exc:
        raise gr.Error(_error_text(exc, prefix), print_exception=False) from None
    except KeyError as exc:  # unknown request id
        raise gr.Error(f"Unknown request: {exc}", print_exception=False) from None
    return record, _message(record)


def build_submit_tab(service: SubmissionService) -> None:
    """Render the tab's components and events inside the current ``gr.Blocks``/``gr.Tab``."""
    gr.Markdown(_HOW)
    with gr.Row():
        with gr.Column():
            gr.Markdown("### (a) Predictions zip")
            zip_file = gr.File(
                label="Predictions (.zip)", file_types=[".zip"], type="filepath", elem_id="ggt-sub-zip"
            )
            model_name = gr.Textbox(label="Model name", placeholder="my-restorer", elem_id="ggt-sub-name")
            model_link = gr.Textbox(label="Model repo or paper link (optional)")
            send_zip = gr.Button("Submit predictions", variant="primary", elem_id="ggt-sub-zip-send")
        with gr.Column():
            gr.Markdown("### (b) Hub model")
            repo = gr.Textbox(label="Hub model id", placeholder="user/nafnet-ggt", elem_id="ggt-sub-repo")
            send_model = gr.Button("Submit model", variant="primary", elem_id="ggt-sub-model-send")
            gr.Markdown("### Request status")
            request_id = gr.Textbox(label="Request id", elem_id="ggt-sub-request-id")
            lookup = gr.Button("Look up", elem_id="ggt-sub-lookup")
    message = gr.Markdown(elem_id="ggt-sub-message")
    record = gr.JSON(label="Request", elem_id="ggt-sub-record")

    sign_in = bool(service.config.sign_in)

    def submit_predictions(
        zip_path: str | None, model: str, link: str, request: gr.Request, profile: gr.OAuthProfile | None
    ):
        """Validate a predictions zip and queue it; the request record and a status line."""
        user = visitor(request, profile, sign_in=sign_in)
        if not zip_path:
            raise gr.Error("Choose a .zip file of predictions first.", print_exception=False)
        return _guard(service.predictions, zip_path, model, link, user)

    def submit_model(repo_id: str, request: gr.Request, profile: gr.OAuthProfile | None):
        """Check a Hub model repo and queue it; the request record and a status line."""
        return _guard(service.model, repo_id, visitor(request, profile, sign_in=sign_in))

    def request_status(request_id: str):
        """The record of a request (PENDING → RUNNING → FINISHED / FAILED) and a status line."""
        return _guard(service.status, request_id, prefix="Request lookup failed")

    def show_id(rec: dict[str, Any]) -> str:
        return (rec or {}).get("request_id", "")

    outputs = [record, message]
    send_zip.click(
        submit_predictions, [zip_file, model_name, model_link], outputs, api_name="submit_predictions"
    ).success(show_id, record, request_id, api_visibility="private")
    send_model.click(submit_model, [repo], outputs, api_name="submit_model").success(
        show_id, record, request_id, api_visibility="private"
    )
    lookup.click(request_status, [request_id], outputs, api_name="request_status")
    request_id.submit(request_status, [request_id], outputs, api_visibility="private")
