"""The Arena tab: a blind pair of two systems' outputs for one LQ photo, a vote, then the reveal
and the Bradley–Terry ranking (with bootstrap intervals) over every vote in the store.

Which system is left (A) or right (B) is random and known only server-side (a single-use token,
:class:`ggt_hf.leaderboard.Arena`). Endpoints (``gradio_client``)::

    lq, a, b, token, caption = client.predict(api_name="/arena_pair")
    reveal, ranking = client.predict(token, "A", api_name="/vote")   # "A" | "B" | "tie" | "both_bad"
    ranking = client.predict(api_name="/arena_ranking")              # {"headers": [...], "data": [...]}
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import gradio as gr

from ggt_hf.errors import GGTError
from ggt_hf.space.visitors import visitor

#: What the UI and API accept as a choice → the arena's choice for the display order.
CHOICE_ALIASES: dict[str, str] = {
    "a": "left",
    "left": "left",
    "b": "right",
    "right": "right",
    "tie": "tie",
    "both_bad": "both_bad",
    "both bad": "both_bad",
}

#: Bootstrap resamples behind the ranking's intervals (seeded, so the table is reproducible).
BOOTSTRAP = 200


class ArenaService:
    """Pairs and votes over an :class:`~ggt_hf.leaderboard.Arena` and the store's votes.

    ``folders`` is ``(outputs_dir, lq_dir)``, or a callable returning them that is run in a
    background thread (the built-in arena is rendered at start without delaying the page); the
    first pair waits for it. ``vote_limit`` (a :class:`~ggt_hf.leaderboard.votes.VoteLimit`) bounds
    each account's counted votes, ``serve_dir`` holds the blind copies, ``after_write`` is called
    after each new pair (the Space bounds its temp folder)."""

    def __init__(
        self,
        store: Any,
        folders: tuple[str, str] | Callable[[], tuple[Any, Any]],
        *,
        vote_limit: Any = None,
        serve_dir: str | Path | None = None,
        after_write: Callable[[], Any] | None = None,
    ) -> None:
        self.votes = store.votes_store()
        self.vote_limit = vote_limit
        self.serve_dir = serve_dir
        self.after_write = after_write
        self._arena: Future = Future()
        if callable(folders):
            threading.Thread(target=self._open, args=(folders,), name="ggt-arena-build", daemon=True).start()
        else:  # a configured folder that cannot be read raises here (the tab then says why)
            self._arena.set_result(self._make(*folders))

    def _make(self, outputs: Any, lq: Any) -> Any:
        from ggt_hf.leaderboard import Arena

        return Arena(
            Path(outputs), Path(lq), votes=self.votes, vote_limit=self.vote_limit, serve_dir=self.serve_dir
        )

    def _open(self, folders: Callable[[], tuple[Any, Any]]) -> None:
        try:
            self._arena.set_result(self._make(*folders()))
        except Exception as exc:  # reported on the first pair request
            self._arena.set_exception(exc)

    @property
    def arena(self) -> Any:
        """The :class:`~ggt_hf.leaderboard.Arena` (waits for a background build; a failed build
        raises :class:`GGTError` with its reason)."""
        try:
            return self._arena.result()
        except Exception as exc:
            raise GGTError("arena", f"the arena could not be prepared ({type(exc).__name__}: {exc})") from exc

    def pair(self, user: str | None = None) -> tuple[str, str, str, str, str]:
        """LQ, A and B image paths, the pair token and a caption (no system names)."""
        pair = self.arena.sample(user=user)
        if self.after_write is not None:
            self.after_write()
        caption = f"Photo `{pair.pair_id}`: which restoration is better, A or B?"
        return str(pair.lq), str(pair.left), str(pair.right), pair.token, caption

    def vote(self, token: str, choice: str, user: str) -> tuple[str, Any]:
        """Record the vote of ``token``; the reveal text and the updated ranking."""
        key = CHOICE_ALIASES.get((choice or "").strip().lower())
        if key is None:
            raise GGTError(choice, f"choose one of A, B, tie, both_bad (got {choice!r})")
        vote = self.arena.vote((token or "").strip(), key, user=user)
        verdict = {"a": "A", "b": "B", "tie": "a tie", "both_bad": "both bad"}[vote.winner]
        reveal = f"You voted **{verdict}**. A was **{vote.system_a}**, B was **{vote.system_b}**."
        return reveal, self.ranking()

    def ranking(self) -> Any:
        """Bradley–Terry ranking of the stored votes that count under the vote limit (DataFrame
        with CI columns)."""
        from ggt_hf.leaderboard import bradley_terry
        from ggt_hf.leaderboard.votes import counted_votes

        frame = bradley_terry(counted_votes(self.votes.votes(), self.vote_limit), bootstrap=BOOTSTRAP, seed=0)
        return frame.round({"Rating": 1, "CI low": 1, "CI high": 1})


def guarded(call, *args):
    """``call(*args)`` with a :class:`GGTError` turned into a ``gr.Error`` naming the item and reason."""
    try:
        return call(*args)
    except GGTError as exc:
        raise gr.Error(f"{exc.item}: {exc.reason}", print_exception=False) from None


def build_arena_tab(
    service: ArenaService | None, reason: str = "", *, sign_in: bool = False
) -> dict[str, Any] | None:
    """Render the tab inside the current ``gr.Blocks``/``gr.Tab``; returns the event that fills it
    on page load (``None`` when the arena is not configured: the tab then says why)."""
    if service is None:
        gr.Markdown(f"The arena is not configured on this Space. {reason}", elem_id="ggt-arena-off")
        return None
    gr.Markdown(
        "Two restorations of the same photo, shown blind in random order. Vote for the better one; "
        "the systems are revealed after your vote and the ranking (Bradley–Terry, 95 % bootstrap "
        "intervals; a tie counts half a win each) updates."
    )
    caption = gr.Markdown(elem_id="ggt-arena-caption")
    token = gr.Textbox(visible=False, elem_id="ggt-arena-token")
    with gr.Row():
        image_kw: dict[str, Any] = {"type": "filepath", "interactive": False, "format": "png", "height": 360}
        lq = gr.Image(label="Input (LQ)", elem_id="ggt-arena-lq", **image_kw)
        left = gr.Image(label="A", elem_id="ggt-arena-a", **image_kw)
        right = gr.Image(label="B", elem_id="ggt-arena-b", **image_kw)
    with gr.Row():
        buttons = {
            "A": gr.Button("A is better", variant="primary", elem_id="ggt-vote-a"),
            "B": gr.Button("B is better", variant="primary", elem_id="ggt-vote-b"),
            "tie": gr.Button("Tie", elem_id="ggt-vote-tie"),
            "both_bad": gr.Button("Both bad", variant="stop", elem_id="ggt-vote-both-bad"),
        }
        next_pair = gr.Button("Next pair", elem_id="ggt-arena-next")
    reveal = gr.Markdown(elem_id="ggt-arena-reveal")
    ranking = gr.Dataframe(label="Ranking", interactive=False, elem_id="ggt-arena-ranking")

    def arena_pair(request: gr.Request, profile: gr.OAuthProfile | None):
        """A new blind pair: LQ, A and B images, the pair token and a caption."""
        return guarded(service.pair, visitor(request, profile, sign_in=sign_in, required=False))

    def vote(token_value: str, choice: str, request: gr.Request, profile: gr.OAuthProfile | None):
        """Vote on the pair of ``token_value`` (A, B, tie, both_bad); the reveal and the ranking."""
        return guarded(service.vote, token_value, choice, visitor(request, profile, sign_in=sign_in))

    def arena_ranking():
        """The Bradley–Terry ranking of all votes so far."""
        return service.ranking()

    pair_outputs = [lq, left, right, token, caption]
    for choice, button in buttons.items():
        button.click(_vote_for(vote, choice), [token], [reveal, ranking], api_visibility="private")
    next_pair.click(arena_pair, None, pair_outputs, api_name="arena_pair").then(
        lambda: "", None, reveal, api_visibility="private"
    )
    # The named API endpoints need a trigger and component inputs/outputs (so files are served and
    # the ranking is a table): hidden components, never shown in the page.
    choice_box = gr.Textbox(visible=False)
    vote_api = gr.Button(visible=False)
    vote_api.click(vote, [token, choice_box], [reveal, ranking], api_name="vote")
    rank_api = gr.Button(visible=False)
    rank_api.click(arena_ranking, None, ranking, api_name="arena_ranking")

    def on_load(request: gr.Request, profile: gr.OAuthProfile | None):
        return (*arena_pair(request, profile), arena_ranking())

    return {"fn": on_load, "inputs": None, "outputs": [*pair_outputs, ranking]}


def _vote_for(vote, choice: str):
    """The click handler of one vote button (the choice is fixed, the token comes from the page)."""

    def handler(token_value: str, request: gr.Request, profile: gr.OAuthProfile | None):
        return vote(token_value, choice, request, profile)

    handler.__name__ = f"vote_{choice.lower()}"
    return handler
