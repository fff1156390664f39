"""Texts sent with requests to hosted models: the judge instruction and chat content, and the
default restoration prompt used when a caller gives none."""

from __future__ import annotations

from typing import Any

from ggt_hf.backends.vlm_answers import JSON_ONLY


def judge_instruction(prompt: str | None) -> str:
    """The judge instruction (``prompt_texts/judge_instruction.txt``), mentioning the restoration prompt."""
    from ggt_hf.prompt_texts import template

    text = template("judge_instruction")
    if prompt:
        text += f"\nThe restoration was asked for with this prompt: {prompt}"
    return f"{text}\n{JSON_ONLY}"


def prompt_defaulted(prompt: str | None) -> bool:
    """True when no prompt was given and :func:`default_restore_prompt` substitutes one."""
    return not (prompt and prompt.strip())


def default_restore_prompt(prompt: str | None) -> str:
    """``prompt``, or the generic fixed restoration prompt (``prompt_texts/fixed.txt``) when none was
    given — editing models need an instruction; the backends record ``default_prompt`` in the
    result metadata when this happens."""
    if not prompt_defaulted(prompt):
        return prompt  # type: ignore[return-value]
    from ggt_hf.prompt_texts import template

    return template("fixed")


def judge_content(prompt: str | None, lq_part: Any, out_part: Any) -> list[Any]:
    """Chat content of a judge request: instruction, then the degraded input and the output."""
    return [
        {"type": "text", "text": judge_instruction(prompt)},
        {"type": "text", "text": "Degraded input:"},
        lq_part,
        {"type": "text", "text": "Restored output:"},
        out_part,
    ]
