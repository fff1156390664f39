"""The Space's Study tab served on 127.0.0.1: best-of-N rounds and picks through gradio_client."""

from __future__ import annotations

import pytest
from PIL import Image

gr = pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

from gradio_client.exceptions import AppError  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")


def test_study_rounds_are_blind_and_picks_become_shares(space_config, store, serve) -> None:
    from ggt_hf.leaderboard.study import StudyStore

    _, client = serve(space_config, store)
    picked = []
    for _ in range(4):
        lq, options, token, caption = client.predict(api_name="/study_round")
        assert token and "which of the" in caption and Image.open(lq).size == (64, 64)
        paths = [item["image"] if isinstance(item, dict) else item[0] for item in options]
        assert len(paths) >= 2
        assert not any(s in str(p) for p in paths for s in ("classical", "identity", "blurred"))
        message, shares = client.predict(token, "1", api_name="/study_pick")
        picked.append(message)
        with pytest.raises(AppError, match=r"already used|unknown"):
            client.predict(token, "1", api_name="/study_pick")  # single-use token
    votes = store.votes_store(StudyStore).votes()
    assert len(votes) == 4 and all(m.startswith("Recorded") for m in picked)
    headers = shares["headers"]
    total = sum(row[headers.index("Picked")] for row in shares["data"])
    assert total == 4 and {"Share", "CI low", "CI high"} <= set(headers)
