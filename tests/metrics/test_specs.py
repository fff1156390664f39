"""The metric specs table is the single source of truth for direction and grouping."""

from __future__ import annotations

import pytest

from ggt_hf.metrics.specs import GROUPS, METRICS, get_spec, paper_metrics, parse_metric_list, weight_free


def test_paper_metrics_and_groups():
    assert [s.name for s in paper_metrics("FR")] == ["psnr", "ssim", "lpips", "dists"]
    assert [s.name for s in paper_metrics("NR")] == ["niqe", "musiq", "maniqa", "topiq_nr", "afine_nr"]
    assert [s.name for s in paper_metrics("VLM")] == ["vlm_r"]
    assert {s.group for s in paper_metrics()} == set(GROUPS)
    lower = {s.name for s in METRICS.values() if s.lower_better}
    assert {"lpips", "dists", "niqe", "afine_nr", "piqe", "gmsd"} <= lower
    assert not {"psnr", "ssim", "musiq", "maniqa", "topiq_nr", "vlm_r"} & lower
    assert get_spec("LPIPS").arrow == "↓" and get_spec("psnr").arrow == "↑"


def test_directions_agree_with_pyiqa():
    pyiqa = pytest.importorskip("pyiqa")
    from pyiqa.default_model_configs import DEFAULT_CONFIGS

    for spec in METRICS.values():
        if spec.pyiqa_id:
            config = DEFAULT_CONFIGS[spec.pyiqa_id]
            assert config.get("lower_better", False) == spec.lower_better, spec.name
            assert config["metric_mode"] == spec.mode, spec.name
    assert pyiqa


def test_unknown_metric_and_lists():
    with pytest.raises(KeyError, match="unknown metric 'psnrr'"):
        get_spec("psnrr")
    assert [s.name for s in parse_metric_list("psnr, ssim", [])] == ["psnr", "ssim"]
    assert [s.name for s in parse_metric_list(None, ["piqe"])] == ["piqe"]
    assert all(not s.needs_weights for s in weight_free())
