"""QC stage 1 as the paper runs it (issue 25 point 2): a candidate whose no-reference metrics show
little or negative improvement excludes the item — no judge call, no regeneration — with "little" a
stated margin per metric recorded in the candidate's provenance; regeneration is an option."""

from __future__ import annotations

import pytest
from PIL import Image

from ggt_hf.backends.base import RestoreResult
from ggt_hf.constants import JUDGE_ASPECTS
from ggt_hf.judging.verdict import Verdict
from ggt_hf.pipeline.config import BuildConfig
from ggt_hf.qc.loop import QCConfig, generate_with_qc
from ggt_hf.qc.metric_filter import STAGE1_MARGINS, MetricFilter, MetricFilterConfig


class CountingBackend:
    """Returns the LQ unchanged and counts calls."""

    name = "counting"

    def __init__(self) -> None:
        self.calls = 0

    def restore(self, request):
        self.calls += 1
        return RestoreResult(request.image, "counting", "counting-1")


class CountingJudge:
    def __init__(self) -> None:
        self.calls = 0

    def judge(self, lq, hq, prompt=None):
        self.calls += 1
        return Verdict(dict.fromkeys(JUDGE_ASPECTS, True))


def piqe_filter(monkeypatch, gain: float, **config) -> MetricFilter:
    """The offline "paper" filter (PIQE fallback) whose HQ improves PIQE by ``gain``."""
    monkeypatch.setenv("GGT_OFFLINE", "1")
    mf = MetricFilter(MetricFilterConfig(**config))
    monkeypatch.setattr(mf, "_scores", lambda lq, hq: [{"piqe": 50.0}, {"piqe": 50.0 - gain}])
    return mf


def run(mf, judge=None, **qc):
    backend = CountingBackend()
    lq = Image.new("RGB", (32, 32), (90, 90, 90))
    attempts = generate_with_qc("item", lq, "restore it", backend, judge, QCConfig(mf, None, 3, **qc), seed=1)
    return attempts, backend


def test_little_improvement_is_excluded_not_regenerated(monkeypatch):
    mf = piqe_filter(monkeypatch, gain=0.5)  # better, but less than the PIQE margin
    assert mf.settings()["margins"] == {"piqe": STAGE1_MARGINS["piqe"]} and STAGE1_MARGINS["piqe"] > 0.5
    judge = CountingJudge()
    attempts, backend = run(mf, judge)
    assert backend.calls == 1 and judge.calls == 0 and len(attempts) == 1 and not attempts[0].accepted
    record = attempts[0].metadata["stage1"]
    assert record == {"margins": {"piqe": 1.0}, "require": "all", "on_fail": "exclude", "excluded": True}
    assert "need ≥ +1" in attempts[0].checks[0].reason  # the reason names the margin


def test_clear_improvement_passes(monkeypatch):
    judge = CountingJudge()
    attempts, backend = run(piqe_filter(monkeypatch, gain=3.0), judge)
    assert backend.calls == 1 and judge.calls == 1 and attempts[0].accepted
    assert attempts[0].metadata["stage1"]["excluded"] is False


def test_regenerate_is_an_option(monkeypatch):
    attempts, backend = run(piqe_filter(monkeypatch, gain=-2.0), stage1_fail="regenerate")
    assert backend.calls == 3 and not any(a.accepted for a in attempts)
    assert all(a.metadata["stage1"]["on_fail"] == "regenerate" for a in attempts)


def test_margins_are_configurable(monkeypatch):
    assert piqe_filter(monkeypatch, 0.0, margins={"piqe": 4.0}).settings()["margins"] == {"piqe": 4.0}
    assert piqe_filter(monkeypatch, 0.0, min_improvement=0.0).settings()["margins"] == {"piqe": 0.0}
    with pytest.raises(ValueError, match="stage1_fail"):
        QCConfig(stage1_fail="retry")


def test_build_config_defaults_to_the_paper():
    qc = BuildConfig.from_dict({}).qc
    assert qc.metric_thresholds == "paper" and qc.metric_on_fail == "exclude"
    assert qc.metric_min_improvement is None and qc.metric_margins == {}
