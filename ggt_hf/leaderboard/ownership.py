"""Who owns a leaderboard row: the account that first submitted the model name.

A row is keyed by :func:`model_key` (the name, Unicode-normalised and case-folded, so
``TeamA-NAFNet`` and ``teama-nafnet`` are one row). Its owner is the ``owner`` recorded by the
earliest *claim* of that key:

* a queued request (any status except a refusal) claims the key; new requests record ``owner``
  (the submitter, or the existing owner when an admin replaces someone's row);
* a result claims the key too (its ``leaderboard.owner``);
* records written before owners were recorded (no ``owner`` field) claim the key for **nobody**:
  such a row stays, and only an admin may replace it.

Only the owner, or an account in the configured admins, may queue another submission under a
taken name (:func:`claim_owner`, run by ``LeaderboardStore.add_request`` under the store's lock, so
two accounts racing for a new name cannot both win). The table
(:func:`ggt_hf.leaderboard.table.latest_per_model`) applies the same rule when it picks a row's
latest result, so a result that slipped past (another replica, a hand-copied file) is not shown.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING, Any

from ggt_hf.errors import GGTError

if TYPE_CHECKING:
    from ggt_hf.leaderboard.store import Request

#: Prefix of the reason of a request refused at submission (it claims nothing).
REFUSED_PREFIX = "refused:"


class OwnershipError(GGTError):
    """A submission under a model name another account owns."""


def model_key(name: str) -> str:
    """The row key of a model name: NFKC-normalised, case-folded, whitespace collapsed."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", str(name)).casefold()).strip()


def _claims(requests: Iterable[Request], results: Iterable[dict[str, Any]]):
    """(time, key, owner) of every record that claims a model name."""
    for request in requests:
        if request.owner is None and (request.reason or "").startswith(REFUSED_PREFIX):
            continue  # a refused submission claims nothing
        yield request.submitted_at, model_key(request.model), request.owner
    for result in results:
        meta = result.get("leaderboard", {})
        name = meta.get("model") or result.get("model")
        if name:
            yield meta.get("submitted_at", ""), model_key(name), meta.get("owner")


def row_owners(requests: Iterable[Request], results: Iterable[dict[str, Any]]) -> dict[str, str | None]:
    """Model key → owner (``None``: a row from before owners were recorded) of every taken name."""
    owners: dict[str, tuple[str, str | None]] = {}
    for time, key, owner in _claims(requests, results):
        if key not in owners or time < owners[key][0]:
            owners[key] = (time, owner)
    return {key: owner for key, (_, owner) in owners.items()}


def claim_owner(
    owners: dict[str, str | None], model: str, user: str, admins: Collection[str] = ()
) -> str | None:
    """The owner a new submission of ``model`` by ``user`` records; raises :class:`OwnershipError`
    when ``user`` may not replace that row (it belongs to another account, or to nobody and
    ``user`` is not an admin)."""
    key = model_key(model)
    if key not in owners:
        return user  # a new name: the first submitter owns it
    owner = owners[key]
    if owner == user or user in admins:
        return owner
    if owner is None:
        raise OwnershipError(
            model,
            "this leaderboard row was submitted before rows had owners; only an admin of this "
            "leaderboard can replace it. Choose another model name.",
        )
    raise OwnershipError(
        model,
        f"this model name belongs to the account {owner!r}, which submitted it first; only that "
        "account (or a leaderboard admin) can replace its row. Choose another model name.",
    )
