"""Who is calling: the signed-in Hugging Face account, or (without sign-in) the real peer address.

With sign-in (:attr:`SpaceConfig.sign_in`: on by default in a Space whose card says
``hf_oauth: true``; locally Gradio mocks the login with the machine's HF account), submitting and
voting need a signed-in account: the handler's ``gr.OAuthProfile`` (filled by Gradio from the
session cookie, never from anything the client sends) names it, and a call without one is refused.

Without sign-in (local use), the caller is ``anonymous@<peer address>``: ``request.client.host``,
the address of the TCP peer. Uvicorn would replace it with the client-supplied ``X-Forwarded-For``
for any peer in ``FORWARDED_ALLOW_IPS`` (default: loopback), so :func:`forwarded_allow_ips` sets
that list to exactly the configured trusted proxies (``SpaceConfig.trusted_proxies``, default
none) when the Space launches: only a request from a trusted proxy has its address taken from the
header, and then the right-most address that is not a trusted proxy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gradio as gr

#: The refusal shown when sign-in is required and the caller is not signed in.
SIGN_IN_MESSAGE = (
    "Sign in with Hugging Face first (the button at the top of the page): submissions and votes "
    "belong to a Hugging Face account."
)


def forwarded_allow_ips(trusted_proxies: Sequence[str]) -> str:
    """The ``FORWARDED_ALLOW_IPS`` value uvicorn must run with: the trusted proxies, else none
    (an empty entry matches no peer)."""
    return ",".join(trusted_proxies)


def visitor(request: gr.Request | None, profile: Any, *, sign_in: bool, required: bool = True) -> str | None:
    """The account a call acts for: the signed-in HF username, else (sign-in off) a Gradio
    ``auth`` user name or ``anonymous@<peer address>``. When sign-in is on and the caller has none:
    ``gr.Error`` (``required``) or ``None``."""
    username = getattr(profile, "username", None)
    if username:
        return str(username)
    if sign_in:
        if not required:
            return None
        raise gr.Error(SIGN_IN_MESSAGE, print_exception=False)
    name = getattr(request, "username", None)
    if name:
        return str(name)
    client = getattr(request, "client", None)
    return f"anonymous@{getattr(client, 'host', None) or 'unknown'}"
