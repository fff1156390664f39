"""The ``datasets`` features of a packed GGT dataset, and record → row conversion.

Images are ``datasets.Image`` columns holding the original encoded bytes; ``category`` is a
``ClassLabel`` over :data:`ggt_hf.constants.CATEGORIES`; provenance and QC are typed structs so the
Hub viewer shows them as columns. Dict-valued provenance fields are JSON text (Arrow has no
schemaless map that ``datasets`` and the viewer both understand).
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from datasets import ClassLabel, Features, Image, List, Value

from ggt_hf.constants import CATEGORIES, COLUMNS, Col
from ggt_hf.records import PairRecord


@cache
def dataset_features() -> Features:
    """The features every shard of a packed GGT dataset has, in column order."""
    provenance = {
        "backend": Value("string"),
        "model_id": Value("string"),
        "prompt_strategy": Value("string"),
        "seed": Value("int64"),
        "attempt": Value("int32"),
        "lq_transform": Value("string"),
        "degradation": Value("string"),
        "extra": Value("string"),
    }
    qc = {
        "verdict": Value("string"),
        "attempts": Value("int32"),
        "checks": List(
            {
                "stage": Value("string"),
                "name": Value("string"),
                "passed": Value("bool"),
                "value": Value("float64"),
                "reason": Value("string"),
            }
        ),
    }
    features = Features(
        {
            Col.ID: Value("string"),
            Col.LQ: Image(),
            Col.HQ: Image(),
            Col.CATEGORY: ClassLabel(names=list(CATEGORIES)),
            Col.SPLIT: Value("string"),
            Col.WIDTH: Value("int32"),
            Col.HEIGHT: Value("int32"),
            Col.SOURCE: Value("string"),
            Col.LICENSE: Value("string"),
            Col.PROMPT: Value("string"),
            Col.PROVENANCE: provenance,
            Col.QC: qc,
            Col.LQ_SHA256: Value("string"),
            Col.LQ_PHASH: Value("string"),
        }
    )
    assert tuple(features) == COLUMNS, "schema and constants.COLUMNS disagree"
    return features


def _json_or_none(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False)


def record_to_row(
    record: PairRecord,
    lq: dict[str, Any],
    hq: dict[str, Any],
    *,
    width: int,
    height: int,
    lq_sha256: str,
    lq_phash: str,
) -> dict[str, Any]:
    """The Arrow row (storage form: images as ``{"bytes", "path"}``) of one pair."""
    prov = record.provenance
    qc = record.qc
    return {
        Col.ID: record.id,
        Col.LQ: lq,
        Col.HQ: hq,
        Col.CATEGORY: CATEGORIES.index(record.category),
        Col.SPLIT: record.split,
        Col.WIDTH: width,
        Col.HEIGHT: height,
        Col.SOURCE: record.source,
        Col.LICENSE: record.license,
        Col.PROMPT: record.prompt,
        Col.PROVENANCE: None
        if prov is None
        else {
            "backend": prov.backend,
            "model_id": prov.model_id,
            "prompt_strategy": prov.prompt_strategy,
            "seed": prov.seed,
            "attempt": prov.attempt,
            "lq_transform": _json_or_none(prov.lq_transform),
            "degradation": _json_or_none(prov.degradation),
            "extra": _json_or_none(prov.extra),
        },
        Col.QC: None
        if qc is None
        else {
            "verdict": qc.verdict,
            "attempts": qc.attempts,
            "checks": [
                {"stage": c.stage, "name": c.name, "passed": c.passed, "value": c.value, "reason": c.reason}
                for c in qc.checks
            ],
        },
        Col.LQ_SHA256: lq_sha256,
        Col.LQ_PHASH: lq_phash,
    }
