"""The Space: one ``gr.Blocks`` with the Restore, Leaderboard, Submit and Arena tabs (and Review,
when a build run folder is configured), every action a named API endpoint for ``gradio_client``.

>>> from ggt_hf.space import SpaceConfig, build_app, launch_space
>>> app = launch_space(SpaceConfig.from_env(), prevent_thread_lock=True)   # doctest: +SKIP
>>> app.local_url                                                          # doctest: +SKIP

Named endpoints: ``/restore``, ``/restorers`` (Restore); ``/leaderboard`` (Leaderboard);
``/submit_predictions``, ``/submit_model``, ``/request_status`` (Submit); ``/arena_pair``, ``/vote``,
``/arena_ranking`` (Arena, when configured); ``/current``, ``/accept``, ``/reject``, ``/skip``
(Review, when configured). See each tab module for the arguments.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ggt_hf.errors import MissingExtraError
from ggt_hf.space.config import SpaceConfig

try:
    import gradio as gr
    from starlette.middleware import Middleware
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise MissingExtraError("gradio", "space") from exc

from ggt_hf.space.arena_tab import ArenaService, build_arena_tab
from ggt_hf.space.leaderboard_tab import build_leaderboard_tab
from ggt_hf.space.restoration import RestoreService
from ggt_hf.space.restore_tab import build_restore_tab
from ggt_hf.space.study_tab import build_study_tab
from ggt_hf.space.submit_tab import SubmissionService, build_submit_tab
from ggt_hf.space.temp import SpaceTemp, UploadGate, scoped_env
from ggt_hf.space.visitors import forwarded_allow_ips

logger = logging.getLogger(__name__)

TITLE = "GGT: Generative Ground Truth for image restoration"

_HEADER = (
    f"# {TITLE}\n"
    "Restore a photo, compare restorers on the GGT test split, submit yours, and vote in the blind "
    "preference arena. Code and dataset builder: [ggt-hf](https://github.com/ggt-hf/ggt-hf)."
)


def max_file_size(config: SpaceConfig) -> str:
    """Gradio's per-file upload limit for ``config``: ``upload_max_mb``, never more than the temp
    folder's bound (Gradio refuses a larger file while it streams)."""
    return f"{min(config.upload_max_mb, config.temp_max_mb)}mb"


def open_space_store(config: SpaceConfig) -> Any:
    """The leaderboard store of ``config`` (local folder, mirrored to Hub repos when configured)."""
    from ggt_hf.leaderboard import open_store

    return open_store(config.store, requests_repo=config.requests_repo, results_repo=config.results_repo)


def _vote_limit(config: SpaceConfig) -> Any:
    from ggt_hf.leaderboard.votes import VoteLimit

    return VoteLimit(max_votes=config.vote_limit, window_hours=24)


def _pair_limit(config: SpaceConfig) -> Any:
    """Pairs per account: 4 open at once, three times the vote limit drawn per day (room to skip
    pairs, not to draw until one's own system shows up)."""
    from ggt_hf.leaderboard.arena import PairLimit

    return PairLimit(max_open=4, max_drawn=3 * config.vote_limit, window_hours=24)


def _arena_service(store: Any, config: SpaceConfig, temp: SpaceTemp) -> tuple[ArenaService | None, str]:
    # blind copies go inside Gradio's cache folder: served in place, never copied again
    options = {
        "vote_limit": _vote_limit(config),
        "pair_limit": _pair_limit(config),
        "serve_dir": temp.folder("gradio/arena"),
        "after_write": temp.enforce,
    }
    if not config.arena:
        if config.builtin_arena:  # the bundled baseline's outputs on the example photos
            from ggt_hf.space.examples import builtin_arena

            return ArenaService(store, builtin_arena, **options), ""
        return (
            None,
            "Set `GGT_SPACE_ARENA` (or `ggt space --arena`) to a folder of `<system>/<id>.png` outputs.",
        )
    try:
        return ArenaService(store, (config.arena, config.arena_lq_dir or ""), **options), ""
    except (OSError, ValueError) as exc:
        logger.warning("arena disabled: %s", exc)
        return None, f"The arena folder could not be read: {exc}"


def _study_service(store: Any, config: SpaceConfig, temp: SpaceTemp) -> tuple[Any, str]:
    from ggt_hf.space.study_tab import StudyService

    if not config.arena:
        return None, "It uses the arena's folders: set `GGT_SPACE_ARENA` (or `ggt space --arena`)."
    try:
        service = StudyService(
            store,
            config.arena,
            config.arena_lq_dir or "",
            # a study on one machine without sign-in is one address: limits need real accounts
            vote_limit=_vote_limit(config) if config.sign_in else None,
            serve_dir=temp.folder("gradio/study"),
        )
        return service, ""
    except (OSError, ValueError) as exc:
        return None, f"The arena folder could not be read: {exc}"


def build_app(config: SpaceConfig | None = None, *, store: Any = None, hub_api: Any = None) -> gr.Blocks:
    """The Space's Blocks for ``config`` (default: from the environment); ``store`` overrides the
    configured leaderboard store and ``hub_api`` the ``HfApi`` model submissions are checked
    through (tests, benchmarks)."""
    config = config or SpaceConfig.from_env()
    if store is None:
        store = open_space_store(config)
        try:
            store.pull()  # a Hub-mirrored store starts from the repos' current content
        except Exception as exc:  # serve what is cached; the Refresh button retries
            logger.warning("could not pull the leaderboard store: %s", exc)
    temp = SpaceTemp(config.temp_max_mb << 20, config.temp_max_files)
    with scoped_env(GRADIO_TEMP_DIR=str(temp.folder("gradio"))):  # components capture it when built
        app = _build_blocks(config, store, hub_api, temp)
    app.ggt_temp = temp
    close = app.close

    def close_and_clean(*args: Any, **kwargs: Any) -> Any:
        try:
            return close(*args, **kwargs)
        finally:
            temp.cleanup()

    app.close = close_and_clean
    return app


def load_request_imports() -> None:
    """Import what the Space's request paths otherwise import on their first call, beside that
    visitor's request: matplotlib's pyplot (Gradio's event handler reads matplotlib's backend on
    every event, which imports pyplot the first time — ~1 s of imports inside the first restore;
    the leaderboard plot draws with it)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.backends.backend_agg
    import matplotlib.pyplot


def _build_blocks(config: SpaceConfig, store: Any, hub_api: Any, temp: SpaceTemp) -> gr.Blocks:
    restore_service = RestoreService(config, output_dir=temp.folder("gradio/restore"))
    submissions = SubmissionService(store, config, hub_api=hub_api, after_write=temp.enforce)
    arena, arena_reason = _arena_service(store, config, temp)
    if config.warm_up:  # before the server exists: no visitor's request runs beside these imports
        restore_service.warm_up()
        load_request_imports()

    loads: list[dict[str, Any]] = []
    with gr.Blocks(title=TITLE, delete_cache=(600, 600)) as app:
        gr.Markdown(_HEADER)
        if config.sign_in:
            gr.LoginButton(elem_id="ggt-login")
        with gr.Tabs():
            with gr.Tab("Restore", id="restore"):
                build_restore_tab(restore_service)
            with gr.Tab("Leaderboard", id="leaderboard"):
                loads.append(build_leaderboard_tab(store))
            with gr.Tab("Submit", id="submit"):
                build_submit_tab(submissions)
            with gr.Tab("Arena", id="arena"):
                event = build_arena_tab(arena, arena_reason, sign_in=bool(config.sign_in))
                if event is not None:
                    loads.append(event)
            with gr.Tab("Study", id="study"):  # best-of-N preference study over the arena's folders
                loads.append(
                    build_study_tab(*_study_service(store, config, temp), sign_in=bool(config.sign_in))
                )
            if config.run_dir:
                with gr.Tab("Review", id="review"):
                    _mount_review(config.run_dir)
        for event in filter(None, loads):
            app.load(**{**event, "api_visibility": "private"})
    app.ggt_services = {"restore": restore_service, "submissions": submissions, "arena": arena}
    return app


def _set_env_until_close(app: gr.Blocks, **values: str) -> Callable[[], None]:
    """Set environment variables now and restore them when ``app`` closes; returns the restorer."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    restored = threading.Event()

    def restore() -> None:
        if restored.is_set():
            return
        restored.set()
        for key, value in saved.items():
            if os.environ.get(key) != values[key]:
                continue  # changed since by someone else: leave it
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    close = app.close

    def close_and_restore(*args: Any, **kwargs: Any) -> Any:
        try:
            return close(*args, **kwargs)
        finally:
            restore()

    app.close = close_and_restore
    return restore


def _check_proxy_trust(app: gr.Blocks, expected: str) -> None:
    """Refuse to serve when uvicorn did not take our forwarded-header trust list (a client could
    then pick its own rate-limit key with ``X-Forwarded-For``)."""
    server_config = getattr(getattr(app, "server", None), "config", None)
    actual = getattr(server_config, "forwarded_allow_ips", expected)
    if server_config is not None and getattr(server_config, "proxy_headers", False) and actual != expected:
        app.close()
        raise RuntimeError(f"the server trusts X-Forwarded-For from {actual!r}, expected {expected!r}")


def _mount_review(run_dir: str) -> None:
    """The QC review app of ``run_dir`` rendered inside the current tab (its own endpoints too)."""
    from ggt_hf.qc.review_app import build_review_app

    build_review_app(run_dir).render()


def launch_space(
    config: SpaceConfig | None = None,
    host: str | None = None,
    port: int | None = None,
    *,
    store: Any = None,
    hub_api: Any = None,
    prevent_thread_lock: bool = False,
    **launch_kwargs: Any,
) -> gr.Blocks:
    """Build and serve the Space: ``host``/``port``, else ``GRADIO_SERVER_NAME``/``GRADIO_SERVER_PORT``,
    else 127.0.0.1 and the first free port from 7860. Blocks until Ctrl+C unless
    ``prevent_thread_lock``; returns the running app (``local_url``; ``close()`` stops it)."""
    from ggt_hf.qc.review_app import resolve_address

    config = config or SpaceConfig.from_env()
    app = build_app(config, store=store, hub_api=hub_api)
    host, port = resolve_address(host, port)
    allowed = [str(Path(p).resolve()) for p in (config.run_dir,) if p]
    allowed += list(launch_kwargs.pop("allowed_paths", None) or [])
    # the arena's store names the systems in its paths and the leaderboard store holds requests:
    # no file URL may reach them, whatever else is allowed
    blocked = [str(Path(p).resolve()) for p in (config.arena, config.arena_lq_dir, config.store) if p]
    blocked += list(launch_kwargs.pop("blocked_paths", None) or [])
    launch_kwargs.setdefault("max_file_size", max_file_size(config))
    # every upload must fit in the temp folder before it is read (UploadGate)
    app_kwargs = dict(launch_kwargs.pop("app_kwargs", None) or {})
    app_kwargs["middleware"] = [*app_kwargs.get("middleware", []), Middleware(UploadGate, temp=app.ggt_temp)]
    app.queue(default_concurrency_limit=2)
    # Gradio checks uploads against GRADIO_TEMP_DIR at request time: it stays set while the Space
    # runs (restored by close); FORWARDED_ALLOW_IPS is read once, by uvicorn's config at launch
    trust = forwarded_allow_ips(config.trusted_proxies)
    restore_env = _set_env_until_close(app, GRADIO_TEMP_DIR=str(app.ggt_temp.folder("gradio")))
    try:
        with scoped_env(FORWARDED_ALLOW_IPS=trust):
            app.launch(
                server_name=host,
                server_port=port,
                prevent_thread_lock=True,
                allowed_paths=allowed,
                blocked_paths=blocked,
                app_kwargs=app_kwargs,
                **launch_kwargs,
            )
    except BaseException:
        app.close()
        restore_env()
        raise
    _check_proxy_trust(app, trust)
    if not prevent_thread_lock:
        try:
            app.block_thread()
        finally:
            app.close()
    return app
