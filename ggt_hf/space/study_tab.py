"""The Study tab: the paper's human-preference protocol, best of all systems' outputs per photo.

Every output of one LQ photo is shown blind, in a random order, as options 1..N; the participant
picks the best (or "none acceptable"). Picks go to the store's study shards
(:class:`ggt_hf.leaderboard.study.StudyStore`); shares with bootstrap intervals are what
``ggt leaderboard votes --share`` prints and ``bench-mfm --human`` reads. Endpoints::

    lq, options, token, caption = client.predict(api_name="/study_round")   # options: gallery
    message, shares = client.predict(token, "2", api_name="/study_pick")     # "1".."N" or "none"
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from ggt_hf.space.arena_tab import guarded
from ggt_hf.space.visitors import visitor

#: Bootstrap resamples behind the share intervals (seeded, so the table is reproducible).
BOOTSTRAP = 200


class StudyService:
    """Rounds and picks over a :class:`~ggt_hf.leaderboard.study.StudyArena` and the store."""

    def __init__(
        self, store: Any, outputs_dir: str, lq_dir: str, *, vote_limit: Any = None, serve_dir: Any = None
    ) -> None:
        from ggt_hf.leaderboard.study import StudyArena, StudyStore

        self.votes = store.votes_store(StudyStore)
        self.vote_limit = vote_limit
        self.arena = StudyArena(
            outputs_dir, lq_dir, votes=self.votes, vote_limit=vote_limit, serve_dir=serve_dir
        )

    def round(self, user: str | None = None) -> tuple[str, list[tuple[str, str]], str, str]:
        """LQ path, the options as (path, "Option k") pairs, the round token and a caption."""
        round_ = self.arena.sample_round(user=user)
        options = [(str(p), f"Option {k}") for k, p in enumerate(round_.options, start=1)]
        caption = f"Photo `{round_.pair_id}`: which of the {len(options)} restorations is best?"
        return str(round_.lq), options, round_.token, caption

    def pick(self, token: str, choice: str, user: str) -> tuple[str, Any]:
        """Record the pick (``1``..``N`` or ``none``); a thank-you line and the current shares."""
        vote = self.arena.pick((token or "").strip(), (choice or "").strip().lower(), user=user)
        return f"Recorded: **{vote.choice}**.", self.shares()

    def shares(self) -> Any:
        """Share of picks per system with 95 % bootstrap intervals (DataFrame, percent)."""
        from ggt_hf.leaderboard.study import vote_shares
        from ggt_hf.leaderboard.votes import counted_votes

        frame = vote_shares(counted_votes(self.votes.votes(), self.vote_limit), bootstrap=BOOTSTRAP, seed=0)
        for column in ("Share", "CI low", "CI high"):
            frame[column] = (100 * frame[column].astype(float)).round(1)
        return frame


def build_study_tab(
    service: StudyService | None, reason: str = "", *, sign_in: bool = False
) -> dict[str, Any] | None:
    """Render the tab; returns the page-load event (``None`` when not configured: the tab says why)."""
    if service is None:
        gr.Markdown(f"The preference study is not configured on this Space. {reason}")
        return None
    gr.Markdown(
        "All restorations of one photo, shown blind in random order. Pick the best one (or none). "
        "Shares of picks with 95 % bootstrap intervals update below."
    )
    caption = gr.Markdown()
    token = gr.Textbox(visible=False)
    lq = gr.Image(label="Input (LQ)", type="filepath", interactive=False, format="png", height=320)
    options = gr.Gallery(label="Options", columns=4, height=360, format="png")
    choice = gr.Textbox(label="Best option (number) or 'none'", elem_id="ggt-study-choice")
    with gr.Row():
        submit = gr.Button("Submit pick", variant="primary")
        none = gr.Button("None acceptable", variant="stop")
        next_round = gr.Button("Next photo")
    message = gr.Markdown()
    shares = gr.Dataframe(label="Shares (%)", interactive=False)

    def study_round(request: gr.Request, profile: gr.OAuthProfile | None):
        """A new blind round: LQ, the options, the round token and a caption."""
        return guarded(service.round, visitor(request, profile, sign_in=sign_in, required=False))

    def on_load(request: gr.Request, profile: gr.OAuthProfile | None):
        return (*study_round(request, profile), service.shares())

    def study_pick(token_value: str, choice_value: str, request: gr.Request, profile: gr.OAuthProfile | None):
        """Record the pick of the round ``token_value``: an option number or ``none``."""
        user = visitor(request, profile, sign_in=sign_in)
        return guarded(service.pick, token_value, choice_value, user)

    def pick_none(token_value: str, request: gr.Request, profile: gr.OAuthProfile | None):
        return study_pick(token_value, "none", request, profile)

    round_outputs = [lq, options, token, caption]
    submit.click(study_pick, [token, choice], [message, shares], api_name="study_pick")
    none.click(pick_none, [token], [message, shares], api_visibility="private")
    next_round.click(study_round, None, round_outputs, api_name="study_round")
    return {
        "fn": on_load,
        "inputs": None,
        "outputs": [*round_outputs, shares],
    }
