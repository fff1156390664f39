"""QC stage 2 (:mod:`ggt_hf.qc.loop`) against a scripted backend and judge: every path of the
attempt loop, and the exact prompt, seed and item id each attempt sends."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from PIL import Image

from ggt_hf.backends.base import BackendError, BackendRefused, RestoreResult, Usage
from ggt_hf.constants import JUDGE_ASPECTS, MAX_QC_ATTEMPTS
from ggt_hf.judging import geometry
from ggt_hf.judging.verdict import Verdict
from ggt_hf.prompts.strategies import corrective_prompt
from ggt_hf.qc.loop import Attempt, QCConfig, generate_with_qc, run_checks
from ggt_hf.records import QCCheck

PROMPT = "Restore this photo."
LQ = Image.new("RGB", (32, 32), (90, 90, 90))


class ScriptedBackend:
    """Answers each call with the next scripted outcome (an exception to raise, or an image)."""

    name = "scripted"
    model_id = "scripted-v1"

    def __init__(self, *outcomes):
        self.outcomes = list(outcomes)
        self.requests = []

    def restore(self, request):
        self.requests.append(request)
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return RestoreResult(
            outcome,
            self.name,
            self.model_id,
            Usage(calls=1, images=1, cost_usd=0.25),
            {"n": len(self.requests)},
        )


def verdict(ok: bool, feedback: str | None = None) -> Verdict:
    aspects = dict.fromkeys(JUDGE_ASPECTS, True)
    if not ok:
        aspects[JUDGE_ASPECTS[0]] = False
    return Verdict(aspects, {JUDGE_ASPECTS[0]: "too smooth"} if not ok else {}, feedback)


class ScriptedJudge:
    name = "scripted-judge"

    def __init__(self, *verdicts):
        self.verdicts = list(verdicts)
        self.calls = []

    def judge(self, lq, out, prompt=None):
        self.calls.append((lq, out, prompt))
        return self.verdicts.pop(0)


def image(value: int) -> Image.Image:
    return Image.new("RGB", (32, 32), (value, value, value))


NO_AUTO = QCConfig(geometry=None)


def sent(backend):
    return [(r.prompt, r.seed, r.item_id) for r in backend.requests]


def test_accepted_first_attempt_stops_and_keeps_what_the_backend_returned():
    out = image(120)
    backend, judge = ScriptedBackend(out, image(1)), ScriptedJudge(verdict(True), verdict(True))
    attempts = generate_with_qc("item-1", LQ, PROMPT, backend, judge, NO_AUTO, seed=7)

    assert [a.attempt for a in attempts] == [1]
    assert sent(backend) == [(PROMPT, 7, "item-1")]
    assert backend.requests[0].image is LQ
    a = attempts[0]
    assert a.accepted and a.reasons == [] and a.error is None
    assert a.image is out and a.prompt == PROMPT and a.seed == 7
    assert a.metadata == {
        "n": 1,
        "usage": {"calls": 1, "input_tokens": 0, "output_tokens": 0, "images": 1, "cost_usd": 0.25},
        "model_id": "scripted-v1",
    }
    assert [(c.stage, c.name, c.passed) for c in a.checks] == [("judge", x, True) for x in JUDGE_ASPECTS]
    assert judge.calls == [(LQ, out, PROMPT)]


def test_accepted_on_the_last_attempt_with_corrective_prompts_and_next_seeds():
    backend = ScriptedBackend(image(10), image(20), image(30))
    judge = ScriptedJudge(verdict(False, "less blur"), verdict(False, "keep the face"), verdict(True))
    attempts = generate_with_qc("item-2", LQ, PROMPT, backend, judge, NO_AUTO, seed=100)

    first, second = corrective_prompt(PROMPT, "less blur"), corrective_prompt(PROMPT, "keep the face")
    assert first != PROMPT and "less blur" in first
    assert sent(backend) == [(PROMPT, 100, "item-2"), (first, 101, "item-2"), (second, 102, "item-2")]
    assert [a.prompt for a in attempts] == [PROMPT, first, second]
    assert [a.seed for a in attempts] == [100, 101, 102]
    assert [a.accepted for a in attempts] == [False, False, True]
    assert [call[2] for call in judge.calls] == [PROMPT, first, second]  # the judge sees the prompt used
    assert attempts[0].feedback == "less blur"
    assert attempts[0].reasons == [f"judge/{JUDGE_ASPECTS[0]}: too smooth"]


def test_rejected_every_time_makes_exactly_max_attempts_and_logs_each_rejection(caplog):
    backend = ScriptedBackend(*(image(i) for i in range(MAX_QC_ATTEMPTS + 1)))
    judge = ScriptedJudge(*(verdict(False, f"fix {i}") for i in range(MAX_QC_ATTEMPTS + 1)))
    with caplog.at_level(logging.INFO, logger="ggt_hf.qc.loop"):
        attempts = generate_with_qc("item-3", LQ, PROMPT, backend, judge, NO_AUTO, seed=0)

    assert len(attempts) == len(backend.requests) == MAX_QC_ATTEMPTS == 3
    assert not any(a.accepted for a in attempts)
    assert [r.seed for r in backend.requests] == [0, 1, 2]
    messages = [r.getMessage() for r in caplog.records if r.name == "ggt_hf.qc.loop"]
    assert messages[0] == f"item-3: attempt 1 rejected: judge/{JUDGE_ASPECTS[0]}: too smooth"
    assert len(messages) == 3


def test_max_attempts_one_makes_one_attempt():
    backend, judge = ScriptedBackend(image(1), image(2)), ScriptedJudge(verdict(False), verdict(True))
    attempts = generate_with_qc("i", LQ, PROMPT, backend, judge, QCConfig(geometry=None, max_attempts=1))
    assert len(attempts) == 1 and not attempts[0].accepted


@pytest.mark.parametrize("bad", [0, -1, MAX_QC_ATTEMPTS + 1, 10])
def test_max_attempts_outside_the_supported_range_is_refused_with_the_range(bad):
    with pytest.raises(ValueError, match=rf"between 1 and {MAX_QC_ATTEMPTS}.*got {bad}"):
        QCConfig(max_attempts=bad)


def test_no_seed_sends_no_seed_and_an_empty_prompt_is_sent_as_none():
    backend, judge = ScriptedBackend(image(1), image(2)), ScriptedJudge(verdict(False), verdict(True))
    attempts = generate_with_qc("i", LQ, "", backend, judge, NO_AUTO)
    # no feedback: the retry keeps the (empty) original prompt
    assert sent(backend) == [(None, None, "i"), (None, None, "i")]
    assert [a.seed for a in attempts] == [None, None]


def test_safety_refusal_stops_the_item():
    backend = ScriptedBackend(BackendRefused("i", "blocked by policy", safety=True), image(1))
    attempts = generate_with_qc("i", LQ, PROMPT, backend, ScriptedJudge(verdict(True)), NO_AUTO, seed=3)
    assert len(attempts) == len(backend.requests) == 1
    assert attempts[0].error == "refused: blocked by policy"
    assert attempts[0].reasons == ["refused: blocked by policy"] and not attempts[0].accepted


def test_non_safety_refusal_and_backend_error_count_as_failed_attempts_and_keep_the_prompt():
    backend = ScriptedBackend(BackendRefused("i", "bad request"), BackendError("i", "outage"), image(5))
    judge = ScriptedJudge(verdict(True))
    attempts = generate_with_qc("i", LQ, PROMPT, backend, judge, NO_AUTO, seed=1)
    assert [a.error for a in attempts] == ["refused: bad request", "failed: outage", None]
    assert sent(backend) == [(PROMPT, 1, "i"), (PROMPT, 2, "i"), (PROMPT, 3, "i")]
    assert attempts[-1].accepted and attempts[0].image is None and attempts[0].checks == []


def test_no_judge_accepts_on_the_automatic_checks_alone():
    backend = ScriptedBackend(image(7))
    attempts = generate_with_qc("i", LQ, PROMPT, backend, None, NO_AUTO)
    assert attempts[0].accepted and attempts[0].checks == [] and attempts[0].feedback is None


class FailingFilter:
    """A stage-1 metric filter that rejects the first candidate and passes the rest."""

    def __init__(self):
        self.calls = []

    def check(self, lq, hq):
        self.calls.append((lq, hq))
        ok = len(self.calls) > 1
        return ok, [QCCheck("metric", "musiq", ok, 1.5, None if ok else "no gain over the LQ")]


def test_stage1_failure_is_retried_with_its_reason_in_the_corrective_prompt():
    backend = ScriptedBackend(image(1), image(2))
    judge = ScriptedJudge(verdict(True, "looks fine"), verdict(True))
    config = QCConfig(metric_filter=FailingFilter(), geometry=None, stage1_fail="regenerate")
    attempts = generate_with_qc("i", LQ, PROMPT, backend, judge, config, seed=0)
    assert config.metric_filter.calls == [(LQ, a.image) for a in attempts]

    assert attempts[0].reasons == ["metric/musiq: no gain over the LQ"]
    # judge feedback first, then the stage-1 reason; judge reasons are not repeated
    assert backend.requests[1].prompt == corrective_prompt(
        PROMPT, "looks fine; metric/musiq: no gain over the LQ"
    )
    assert [c.stage for c in attempts[1].checks] == ["metric", *["judge"] * len(JUDGE_ASPECTS)]
    assert attempts[1].accepted


def test_stage1_failure_excludes_the_item_by_default(caplog):
    backend = ScriptedBackend(image(1), image(2))
    judge = ScriptedJudge(verdict(True), verdict(True))
    with caplog.at_level(logging.INFO, logger="ggt_hf.qc.loop"):
        attempts = generate_with_qc(
            "i", LQ, PROMPT, backend, judge, QCConfig(metric_filter=FailingFilter(), geometry=None)
        )
    assert len(attempts) == len(backend.requests) == 1
    assert attempts[0].metadata["stage1"] == {"on_fail": "exclude", "excluded": True}
    assert [r.getMessage() for r in caplog.records if r.name == "ggt_hf.qc.loop"] == [
        "i: excluded at stage 1: metric/musiq: no gain over the LQ"
    ]


def test_only_auto_and_metric_reasons_enter_the_corrective_prompt_without_feedback(monkeypatch):
    results = [
        [QCCheck("auto", "shift", False, 9.0, "shifted by 9 px"), QCCheck("auto", "scale", True, 1.0)],
        [QCCheck("auto", "shift", True, 0.0)],
    ]
    monkeypatch.setattr(geometry, "check_geometry", lambda lq, hq, tol: results.pop(0))
    backend = ScriptedBackend(image(1), image(2))
    judge = ScriptedJudge(verdict(False), verdict(True))
    attempts = generate_with_qc("i", LQ, PROMPT, backend, judge, QCConfig(), seed=0)
    assert backend.requests[1].prompt == corrective_prompt(PROMPT, "auto/shift: shifted by 9 px")
    assert len(attempts) == 2


def test_every_check_runs_on_the_lq_and_the_candidate_in_order(monkeypatch, caplog):
    seen = []

    def fake_geometry(lq, hq, tol):
        seen.append((lq, hq, tol))
        return [QCCheck("auto", "shift", False, 9.0, "shifted"), QCCheck("auto", "scale", False, 2.0, "x2")]

    monkeypatch.setattr(geometry, "check_geometry", fake_geometry)
    out = image(3)
    backend, judge = ScriptedBackend(out), ScriptedJudge(verdict(True))
    config = QCConfig(metric_filter=FailingFilter(), max_attempts=1, stage1_fail="regenerate")
    with caplog.at_level(logging.INFO, logger="ggt_hf.qc.loop"):
        attempts = generate_with_qc("i", LQ, PROMPT, backend, judge, config, category="low_light")
    records = [r for r in caplog.records if r.name == "ggt_hf.qc.loop"]
    assert seen == [(LQ, out, geometry.GeometryTolerances.for_category("low_light"))]
    assert [(c.stage, c.name) for c in attempts[0].checks[:3]] == [
        ("metric", "musiq"),
        ("auto", "shift"),
        ("auto", "scale"),
    ]
    assert records[0].getMessage() == (
        "i: attempt 1 rejected: metric/musiq: no gain over the LQ; auto/shift: shifted; auto/scale: x2"
    )


def test_run_checks_uses_the_category_tolerances_or_the_given_ones(monkeypatch):
    seen = []
    monkeypatch.setattr(geometry, "check_geometry", lambda lq, hq, tol: seen.append(tol) or [])
    run_checks(LQ, LQ, PROMPT, None, QCConfig(), "old_photo")
    run_checks(LQ, LQ, PROMPT, None, QCConfig(), None)
    custom = geometry.GeometryTolerances(max_shift_frac=0.5)
    run_checks(LQ, LQ, PROMPT, None, QCConfig(geometry=custom), "old_photo")
    assert seen == [
        geometry.GeometryTolerances.for_category("old_photo"),
        geometry.GeometryTolerances.for_category(None),
        custom,
    ]
    assert seen[0] != seen[1]


def test_run_checks_returns_the_judge_reasons_and_feedback():
    judge = ScriptedJudge(verdict(False, "sharpen"))
    checks, feedback = run_checks(LQ, LQ, "p", judge, NO_AUTO)
    assert feedback == "sharpen"
    assert checks[0] == QCCheck("judge", JUDGE_ASPECTS[0], False, None, "too smooth")
    assert checks[1] == QCCheck("judge", JUDGE_ASPECTS[1], True, None, None)


def test_an_attempt_without_an_image_is_not_accepted():
    assert not Attempt(1, "p", None).accepted
    assert Attempt(1, "p", None, image=LQ).accepted
    assert not Attempt(1, "p", None, image=LQ, error="failed: x").accepted


def metric_checks(*passed: bool) -> list[QCCheck]:
    return [QCCheck("metric", f"m{i}", ok, 0.0, None if ok else "worse") for i, ok in enumerate(passed)]


@pytest.mark.parametrize(
    ("require", "passed", "excluded"),
    [
        ("all", (True, False), True),
        ("all", (True, True), False),
        ("any", (True, False), False),
        ("any", (False, False), True),
        (None, (True, False), True),  # a filter without a config: every metric must pass
    ],
)
def test_stage1_excludes_as_the_filters_require_says(require, passed, excluded):
    metric_filter = FailingFilter()
    if require is not None:
        metric_filter.config = SimpleNamespace(require=require)
    checks = [QCCheck("judge", "x", False), *metric_checks(*passed)]
    assert QCConfig(metric_filter=metric_filter).excludes(checks) is excluded
    assert QCConfig(metric_filter=metric_filter, stage1_fail="regenerate").excludes(checks) is False


def test_stage1_never_excludes_without_a_filter_or_metric_checks():
    assert QCConfig().excludes(metric_checks(False)) is False
    assert QCConfig(metric_filter=FailingFilter()).excludes([QCCheck("auto", "shift", False)]) is False


def test_the_exclusion_log_names_every_failed_check(caplog):
    two_fail = SimpleNamespace(check=lambda lq, hq: (False, metric_checks(False, False)))
    with caplog.at_level(logging.INFO, logger="ggt_hf.qc.loop"):
        generate_with_qc("i", LQ, PROMPT, ScriptedBackend(image(1)), None, QCConfig(metric_filter=two_fail))
    assert [r.getMessage() for r in caplog.records if r.name == "ggt_hf.qc.loop"] == [
        "i: excluded at stage 1: metric/m0: worse; metric/m1: worse"
    ]


@pytest.mark.parametrize("stage1_fail", ["exclude", "regenerate"])
def test_require_any_accepts_when_one_metric_passes(stage1_fail):
    """``qc.metric_require: any``: one metric passing is a stage-1 pass, so the judge's approval
    accepts the first candidate (it used to be rejected by the other metric and regenerated)."""
    one_passes = SimpleNamespace(
        check=lambda lq, hq: (True, metric_checks(True, False)), config=SimpleNamespace(require="any")
    )
    backend, judge = ScriptedBackend(image(1), image(2)), ScriptedJudge(verdict(True), verdict(True))
    config = QCConfig(metric_filter=one_passes, geometry=None, stage1_fail=stage1_fail)
    attempts = generate_with_qc("i", LQ, PROMPT, backend, judge, config)
    assert len(attempts) == 1 and attempts[0].accepted and attempts[0].reasons == []
    assert [c.passed for c in attempts[0].checks if c.stage == "metric"] == [True, False]  # kept as measured


def test_require_any_still_rejects_on_the_judge_and_when_every_metric_fails():
    checks = [*metric_checks(True, False), QCCheck("judge", "fidelity", False, None, "moved")]
    attempt = Attempt(1, "p", None, image=LQ, checks=checks, metric_require="any")
    assert not attempt.accepted and attempt.reasons == ["judge/fidelity: moved"]
    all_fail = Attempt(1, "p", None, image=LQ, checks=metric_checks(False, False), metric_require="any")
    assert not all_fail.accepted and all_fail.reasons == ["metric/m0: worse", "metric/m1: worse"]
    strict = Attempt(1, "p", None, image=LQ, checks=metric_checks(True, False))
    assert not strict.accepted and strict.reasons == ["metric/m1: worse"]
