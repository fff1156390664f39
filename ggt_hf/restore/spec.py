"""One grammar for naming a restorer, a judge and a benchmarked system.

``ggt restore --model``, the Space's restorer choices and ``ggt bench-mfm --system`` all parse
restorer names here, so a name means the same thing everywhere and a bad one fails the same way,
before any image is read.

Restorer (``RESTORER``)::

    identity                                  the input unchanged (a floor, not a restorer)
    classical[:CATEGORY]                      the offline classical baseline; CATEGORY (rain, haze,
                                              snow, low_light, old_photo, general) forces its steps
                                              (general: none) whatever prompt a caller sends
    diffusers:BASE[+LORA][+controlnet=REPO]   a local diffusers pipeline (generative restorer)
    model:LABEL                               a restorer configured under LABEL (the Space's models)
    BACKEND[:MODEL_ID]                        a registered image backend (gemini, openai,
                                              hf-inference, ...) with an optional model id
    package.module:function                   a Python callable restore(image, prompt) -> image
    NAME_OR_PATH                              a restorer registry name (random weights), a
                                              save_pretrained folder or a Hub repo id

Judge (``--judge``): ``none`` or ``VLM[:MODEL_ID]`` with ``VLM`` a registered VLM client (gemini,
openai, transformers, heuristic); for ``transformers`` the model id is a Hub repo or local folder.

System (``bench-mfm --system``): ``RESTORER[@STRATEGY][=NAME]`` with ``STRATEGY`` one of ``none``,
``fixed``, ``fixed-no-change``, ``adaptive:VLM[:MODEL_ID]``. ``NAME`` is everything after the last
``=`` and may hold any character but ``=`` (``NanoBanana2+GPT``); the only other ``=`` a system may
hold is the one of ``+controlnet=REPO``. Without ``=NAME`` the name is the system text itself.

The restorer a name names is built by :func:`ggt_hf.restore.factory.make_restorer` (the only place),
with :class:`RestorerOptions`; :func:`ggt_hf.restore.identity.restorer_identity` says which options
change its outputs.

API backends need their key in the environment (:data:`API_KEYS`); :meth:`RestorerSpec.check` and
:meth:`JudgeSpec.check` fail naming the variable, before anything is loaded or called.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ggt_hf.prompts.strategies import FIXED_STRATEGIES, check_strategy

#: What a restorer name names (see the grammar above); the factory builds one runner per kind.
RestorerKind = Literal["identity", "classical", "diffusers", "model", "backend", "callable", "restorer"]

#: Environment variables holding each API's key (any one of them is enough), first one preferred.
API_KEYS: dict[str, tuple[str, ...]] = {
    "gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
    "openai": ("OPENAI_API_KEY",),
    "hf-inference": ("HF_TOKEN",),
}


class MissingKeyError(ValueError):
    """An API restorer or judge was named but its key is not in the environment.

    ``variables`` names what to set (``"GEMINI_API_KEY (or GOOGLE_API_KEY)"``), one entry per API.
    """

    def __init__(self, message: str, variables: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.variables = variables


def require_key(backend: str, what: str, environ: Mapping[str, str] | None = None) -> None:
    """Raise :class:`MissingKeyError` naming the variable when ``backend`` needs a key that is unset."""
    names = API_KEYS.get(backend)
    env = os.environ if environ is None else environ
    if names and not any(env.get(n) for n in names):
        alt = f" (or {', '.join(names[1:])})" if len(names) > 1 else ""
        variable = f"{names[0]}{alt}"
        raise MissingKeyError(f"{what}: set {variable} in the environment; it is not set", (variable,))


def check_keys(checks: Mapping[str, Callable[[], None]]) -> None:
    """Run every ``check`` and raise one :class:`MissingKeyError` naming every missing variable.

    ``checks`` maps what needs the key (``"system 'NanoBanana2+GPT'"``) to its ``check`` method, so a
    run needing two keys says so at once instead of one key per attempt.
    """
    missing: dict[str, list[str]] = {}
    for what, check in checks.items():
        try:
            check()
        except MissingKeyError as error:
            for variable in error.variables or (str(error),):
                missing.setdefault(variable, []).append(what)
    if missing:
        parts = [f"{variable} (for {', '.join(whats)})" for variable, whats in missing.items()]
        raise MissingKeyError(f"set in the environment: {'; '.join(parts)}", tuple(missing))


def _registered_backends() -> list[str]:
    from ggt_hf.backends import available_backends

    return available_backends()


def _registered_vlms() -> list[str]:
    from ggt_hf.backends import available_vlms

    return available_vlms()


@dataclass(frozen=True)
class RestorerSpec:
    """A parsed restorer name (see the module docstring for the grammar).

    ``kind`` is one of ``identity``, ``classical``, ``diffusers``, ``model``, ``backend``,
    ``callable``, ``restorer``; ``name`` the backend / registry name, path or module; ``arg`` the
    part after the first ``:`` (category, pipeline spec, label, model id or function name).
    """

    text: str
    kind: RestorerKind
    name: str
    arg: str | None = None

    @property
    def category(self) -> str | None:
        """The forced category of ``classical:<category>``."""
        return self.arg if self.kind == "classical" else None

    @property
    def model_id(self) -> str | None:
        """The model id of ``BACKEND:MODEL_ID`` (``None``: the backend's default)."""
        return self.arg if self.kind == "backend" else None

    def check(self, environ: Mapping[str, str] | None = None) -> None:
        """Fail now (naming the variable) when this restorer needs an API key that is unset."""
        if self.kind == "backend":
            require_key(self.name, f"restorer {self.text!r}", environ)

    def model_sources(self) -> list[str]:
        """The model folders or Hub repos this restorer loads (base, LoRA, ControlNet), for the
        network check before any work (:func:`ggt_hf.runtime.network.require_hub_repos`)."""
        if self.kind == "restorer":
            return [self.text]
        if self.kind == "diffusers":
            return [v for v in self.backend_kwargs().values() if v]
        return []

    def api_endpoints(self, backend_kwargs: Mapping[str, Any] | None = None) -> list[tuple[str, Any]]:
        """``(who, ApiEndpoint)`` of the hosted API this restorer calls (a ``BACKEND`` such as gemini),
        made with ``backend_kwargs`` too, for the probe before any work
        (:func:`ggt_hf.runtime.network.require_apis`); empty for local restorers."""
        if self.kind != "backend":
            return []
        from ggt_hf.backends import api_endpoints, backend_class

        options = {**self.backend_kwargs(), **(backend_kwargs or {})}
        return [(f"restorer {self.text!r}", e) for e in api_endpoints(backend_class(self.name), options)]

    def backend_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`ggt_hf.backends.create_backend` for backend kinds."""
        if self.kind == "diffusers":
            from ggt_hf.backends.diffusers_backend import parse_pipeline_spec

            return dict(parse_pipeline_spec(self.arg or ""))
        return {"model_id": self.arg} if self.kind == "backend" and self.arg else {}


def parse_restorer(text: str) -> RestorerSpec:
    """Parse a restorer name; raises :class:`ValueError` naming it and the reason."""
    from ggt_hf.constants import CATEGORIES, parse_category

    text = (text or "").strip()
    if not text:
        raise ValueError("empty restorer name")
    head, sep, arg = text.partition(":")
    if text == "identity":
        return RestorerSpec(text, "identity", "identity")
    if head == "classical":
        if sep and not arg:
            raise ValueError(f"restorer {text!r}: give a category after 'classical:'")
        try:
            category = parse_category(arg) if arg else None
        except ValueError:
            raise ValueError(
                f"restorer {text!r}: unknown category {arg!r} (one of {', '.join(CATEGORIES)})"
            ) from None
        return RestorerSpec(text, "classical", "classical", category)
    if head == "diffusers":
        if not arg:
            raise ValueError(f"restorer {text!r}: give a base model after 'diffusers:'")
        from ggt_hf.backends.diffusers_backend import parse_pipeline_spec

        parse_pipeline_spec(arg)  # validates the +lora / +controlnet= parts
        return RestorerSpec(text, "diffusers", "diffusers", arg)
    if head == "model":
        if not arg:
            raise ValueError(f"restorer {text!r}: give a configured model label after 'model:'")
        return RestorerSpec(text, "model", "model", arg)
    if head in _registered_backends():
        if sep and not arg:
            raise ValueError(f"restorer {text!r}: give a model id after '{head}:' or drop the ':'")
        return RestorerSpec(text, "backend", head, arg or None)
    if sep and "/" not in head and not Path(text).exists():
        if not head:
            raise ValueError(f"restorer {text!r}: name the module before ':' (module:function)")
        if not arg.isidentifier():
            raise ValueError(f"restorer {text!r}: {arg!r} is not a Python function name")
        return RestorerSpec(text, "callable", head, arg)
    return RestorerSpec(text, "restorer", text)


@dataclass
class RestorerOptions:
    """How a restorer runs: the options of :func:`ggt_hf.restore.factory.make_restorer`.

    ``device``/``dtype``/``tile``/``overlap`` apply to model restorers (``device`` also to diffusers
    pipelines), ``steps`` to diffusers, ``seed`` and ``default_prompt`` (given when the caller has
    no prompt) to diffusers and API backends; ``revision`` pins a Hub model repo. Which of them
    change a given restorer's outputs is :func:`ggt_hf.restore.identity.restorer_identity`'s job.
    """

    device: str | None = None
    tile: int | None = 512  # None or 0: the whole image at once
    overlap: int = 32
    dtype: str | None = None
    steps: int | None = None
    seed: int | None = 0
    default_prompt: str | None = None  # given to prompt-taking backends when the caller has none
    revision: str | None = None  # a Hub model repo's branch, tag or commit
    models: dict[str, str] = field(default_factory=dict)  # model:LABEL → Hub repo or folder
    backend_kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class JudgeSpec:
    """A parsed ``--judge``: ``none`` or ``VLM[:MODEL_ID]``."""

    text: str
    vlm: str | None
    model_id: str | None = None

    def check(self, environ: Mapping[str, str] | None = None) -> None:
        """Fail now (naming the variable) when the judge's API key is unset."""
        if self.vlm:
            require_key(self.vlm, f"judge {self.text!r}", environ)

    def api_endpoints(self) -> list[tuple[str, Any]]:
        """``(who, ApiEndpoint)`` of the hosted API this judge calls (see :meth:`RestorerSpec.api_endpoints`)."""
        if self.vlm is None:
            return []
        from ggt_hf.backends import api_endpoints, vlm_class

        options = {"model_id": self.model_id} if self.model_id else {}
        return [(f"judge {self.text!r}", e) for e in api_endpoints(vlm_class(self.vlm), options)]

    def build(self):
        """The VLM client (it has ``judge(lq, out)``), or ``None`` for ``none``."""
        if self.vlm is None:
            return None
        self.check()
        from ggt_hf.backends import create_vlm

        return create_vlm(self.vlm, **({"model_id": self.model_id} if self.model_id else {}))


def parse_judge(text: str | None) -> JudgeSpec:
    """Parse ``none`` / ``VLM[:MODEL_ID]``; raises :class:`ValueError` for an unknown VLM."""
    text = (text or "none").strip()
    if text == "none":
        return JudgeSpec(text, None)
    vlm, sep, model_id = text.partition(":")
    if vlm not in _registered_vlms():
        raise ValueError(f"judge {text!r}: unknown VLM {vlm!r}; one of none, {', '.join(_registered_vlms())}")
    if sep and not model_id:
        raise ValueError(f"judge {text!r}: give a model id after '{vlm}:' or drop the ':'")
    if vlm == "transformers" and not model_id:
        raise ValueError(f"judge {text!r}: name the model, e.g. transformers:Qwen/Qwen2.5-VL-7B-Instruct")
    return JudgeSpec(text, vlm, model_id or None)


@dataclass(frozen=True)
class SystemSpec:
    """A parsed ``bench-mfm`` system: ``RESTORER[@STRATEGY][=NAME]``."""

    text: str
    name: str
    restorer: RestorerSpec
    strategy: str = "none"
    strategy_vlm: JudgeSpec | None = None  # the prompt-writing VLM of adaptive strategies

    def check(self, environ: Mapping[str, str] | None = None) -> None:
        """Every key the system needs (restorer and prompt VLM), all named at once, before any work."""
        vlm = self.strategy_vlm
        check_keys(
            {
                "restorer": lambda: self.restorer.check(environ),
                "prompts": lambda: vlm.check(environ) if vlm is not None else None,
            }
        )

    def api_endpoints(self) -> list[tuple[str, Any]]:
        """``(who, ApiEndpoint)`` of the hosted APIs the system calls: its restorer and prompt VLM."""
        prompts = self.strategy_vlm.api_endpoints() if self.strategy_vlm is not None else []
        return [(f"system {self.name!r}: {who}", e) for who, e in [*self.restorer.api_endpoints(), *prompts]]


#: The one ``=`` a restorer may hold: ``diffusers:BASE+controlnet=REPO``.
_CONTROLNET = "+controlnet="


def _split_name(text: str) -> tuple[str, str | None]:
    """``body=NAME`` → (body, NAME), else (text, None).

    NAME is everything after the last ``=`` and may hold any character but ``=`` (``+``, ``@``,
    ``:``, spaces: ``NanoBanana2+GPT``); the ``=`` of a ``+controlnet=REPO`` part is not a name's.
    Any other ``=`` is refused, so a name can never leak into a model id or a strategy.
    """
    body, sep, name = text.rpartition("=")
    if not sep or body.endswith(_CONTROLNET[:-1]):
        body, name = text, None
    elif not name.strip():
        raise ValueError(f"system {text!r}: empty name after '='")
    if "=" in body.replace(_CONTROLNET, ""):
        raise ValueError(
            f"system {text!r}: more than one '='; a name (after the last '=') cannot contain '=', and "
            f"a restorer holds one only in '{_CONTROLNET}REPO'"
        )
    if name is not None and not name.isprintable():
        raise ValueError(f"system {text!r}: the name {name!r} holds a control character")
    return body, None if name is None else name.strip()


def parse_system(text: str) -> SystemSpec:
    """Parse ``RESTORER[@STRATEGY][=NAME]`` (see the module docstring)."""
    body, name = _split_name(text.strip())
    restorer_text, _, strategy = body.partition("@")
    restorer = parse_restorer(restorer_text)
    strategy = strategy or "none"
    vlm = None
    if strategy.startswith("adaptive:"):
        vlm = parse_judge(strategy.removeprefix("adaptive:"))
        if vlm.vlm is None:
            raise ValueError(f"system {text!r}: adaptive needs a VLM, e.g. adaptive:gemini")
    elif strategy not in FIXED_STRATEGIES:
        try:
            check_strategy(strategy)
        except ValueError as exc:
            raise ValueError(f"system {text!r}: {exc}") from None
    label = name or (restorer_text if strategy == "none" else f"{restorer_text}@{strategy}")
    return SystemSpec(text, label, restorer, strategy, vlm)
