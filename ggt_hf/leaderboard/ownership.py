"""Who owns a leaderboard row: the account that first submitted the model name.

A new name must follow a small grammar (:func:`check_model_name`: ASCII letters and digits with
single ``.``, ``_``, ``-``, `` `` or ``/`` between them, at most :data:`MAX_NAME_LENGTH` characters),
so an invisible or lookalike character (zero-width space, soft hyphen, Cyrillic ``а``, a
non-breaking hyphen, a trailing ``.``) cannot make a second row that looks like another account's.
Names stored before the grammar stay visible; they just cannot be submitted again.

A row is keyed by :func:`model_key` (the name Unicode-normalised, case-folded, invisible
characters dropped and runs of ``-``, ``_``, ``.``, spaces folded, so ``TeamA-NAFNet``,
``teama_nafnet`` and ``TeamA NAFNet.`` are one row). Its owner is the ``owner`` recorded by the
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
    from ggt_hf.leaderboard.requests import Request

#: Prefix of the reason of a request refused at submission (it claims nothing).
REFUSED_PREFIX = "refused:"


class OwnershipError(GGTError):
    """A submission under a model name another account owns."""


class ModelNameError(OwnershipError):
    """A new model name outside the allowed grammar (:func:`check_model_name`)."""


#: Longest model name a submission may use.
MAX_NAME_LENGTH = 96

#: Letters and digits, with single separators between them (no leading/trailing punctuation).
_NAME = re.compile(r"[A-Za-z0-9]+(?:[._\- /][A-Za-z0-9]+)*")
_ALLOWED = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._- /")
#: What :func:`model_key` folds into one separator.
_SEPARATORS = re.compile(r"[\s._\-/]+")


def check_model_name(name: str) -> str:
    """``name`` if a new submission may use it; raises :class:`ModelNameError` naming the first
    offending character (``U+XXXX``) or the rule broken."""
    name = str(name)
    for index, char in enumerate(name):
        if char not in _ALLOWED:
            label = unicodedata.name(char, "unnamed character")
            raise ModelNameError(
                name.encode("ascii", "backslashreplace").decode(),
                f"character {index + 1} is U+{ord(char):04X} ({label}); model names may use only ASCII "
                "letters, digits and single '.', '_', '-', ' ' or '/' between them.",
            )
    if not 0 < len(name) <= MAX_NAME_LENGTH:
        raise ModelNameError(name, f"a model name has 1 to {MAX_NAME_LENGTH} characters (got {len(name)}).")
    if not _NAME.fullmatch(name):
        raise ModelNameError(
            name,
            "a model name starts and ends with a letter or digit and has no two separators "
            "('.', '_', '-', ' ', '/') in a row.",
        )
    return name


def model_key(name: str) -> str:
    """The row key of a model name: NFKC-normalised, case-folded, invisible (format) characters
    dropped, runs of separators (any dash, ``_``, ``.``, ``/``, whitespace) folded to one ``-`` and
    stripped at both ends."""
    text = unicodedata.normalize("NFKC", str(name)).casefold()
    dashes = {"Pd": "-", "Cf": ""}  # any dash is a separator; invisible format characters vanish
    text = "".join(dashes.get(unicodedata.category(c), c) for c in text)
    return _SEPARATORS.sub("-", text).strip("-")


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
    ``user`` is not an admin), :class:`ModelNameError` when ``model`` is outside the grammar."""
    check_model_name(model)
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
