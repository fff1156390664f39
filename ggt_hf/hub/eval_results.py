"""Hub-native evaluation results: the benchmark's ``eval.yaml`` and models' ``.eval_results/*.yaml``.

The Hub reads benchmark results in two places (format of ``huggingface_hub._eval_results`` and
https://huggingface.co/docs/hub/eval-results):

* a benchmark **dataset** declares its tasks in a root ``eval.yaml`` (``name``, ``description``,
  ``evaluation_framework``, ``tasks: [{id, config, split}]``). A Hub entry holds one value, so a
  packed GGT dataset with a test split declares **one task per metric** of the specs table, all
  on the ``default`` config's ``test`` split;
* a **model** repo carries ``.eval_results/<benchmark>.yaml``: a list of
  ``{dataset: {id, task_id, revision?}, value, date?, source?, notes?}``, built here with
  ``EvalResultEntry`` and ``eval_result_entries_to_yaml``. On a repo the user does not own the
  file is offered as a pull request (``create_pr=True``), which the Hub shows as community-provided.

Lower-is-better metrics (LPIPS, NIQE, ...) have no agreed direction field yet: the direction is
stated in the benchmark description. The legacy ``model-index`` in model cards is written
separately (``ggt_hf.training.model_card``) and still read by the Hub.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml
from huggingface_hub import EvalResultEntry, HfApi, eval_result_entries_to_yaml

from ggt_hf.constants import HubLayout
from ggt_hf.errors import GGTError, UsageError
from ggt_hf.files.io_utils import atomic_write_text
from ggt_hf.hub.card_info import read_card_info
from ggt_hf.hub.locations import resolve_location
from ggt_hf.metrics.specs import METRICS

logger = logging.getLogger(__name__)

EVALUATION_FRAMEWORK = "ggt-hf"
EVAL_RESULTS_DIR = ".eval_results"


class EvalResultsError(GGTError):
    """Results cannot be published (no Hub dataset id, nothing to publish)."""


class NoHubDatasetError(EvalResultsError, UsageError):
    """``--push-results`` on a ``--dataset`` that names no Hub dataset (a local folder packed without
    ``--repo-id``): refused before any scoring (exit 2)."""


def benchmark_tasks() -> list[dict[str, str]]:
    """One ``eval.yaml`` task per metric, on the default config's test split."""
    return [{"id": name, "config": HubLayout.DEFAULT_CONFIG, "split": "test"} for name in METRICS]


def benchmark_yaml(pretty_name: str) -> dict[str, Any]:
    """The ``eval.yaml`` content of a packed GGT dataset."""
    lower = ", ".join(s.title for s in METRICS.values() if s.lower_better)
    return {
        "name": pretty_name,
        "description": (
            f"Real-world image restoration on the test split of {pretty_name}: restore each LQ image; "
            "full-reference metrics compare with the HQ target, no-reference metrics score the "
            f"restoration alone. One task per metric (task id = metric name). Lower is better for {lower}; "
            "higher is better for the others. Scored with `ggt eval` (ggt-hf, pyiqa)."
        ),
        "evaluation_framework": EVALUATION_FRAMEWORK,
        "tasks": benchmark_tasks(),
    }


def write_benchmark_yaml(folder: Path, info: Any, shards: list[Any]) -> bool:
    """Write ``eval.yaml`` into a packed folder whose main pairs have a test split; True if written."""
    if not any(s.subset == HubLayout.DATA_DIR and s.split == "test" for s in shards):
        (folder / HubLayout.EVAL_YAML).unlink(missing_ok=True)
        return False
    text = yaml.safe_dump(benchmark_yaml(info.pretty_name), sort_keys=False, allow_unicode=True)
    atomic_write_text(folder / HubLayout.EVAL_YAML, text)
    return True


def entries_from_results(
    results: dict[str, Any],
    dataset_id: str,
    *,
    revision: str | None = None,
    source_url: str | None = None,
    date: str | None = None,
) -> list[EvalResultEntry]:
    """One entry per metric of a ``ggt eval`` results dict's overall scores (unknown metrics skipped)."""
    overall = results.get("overall") or {}
    notes = f"split {results.get('split', 'test')}; {sum((results.get('counts') or {}).values())} images"
    if not results.get("complete", True):
        notes += "; incomplete submission (see the results file)"
    date = date or datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    entries = []
    for name, value in overall.items():
        if name not in METRICS:
            logger.warning("metric %s is not a task of the benchmark; not published", name)
            continue
        entries.append(
            EvalResultEntry(
                dataset_id=dataset_id,
                task_id=name,
                value=round(float(value), 6),
                dataset_revision=revision,
                date=date,
                source_url=source_url,
                source_name="ggt eval" if source_url else None,
                notes=notes,
            )
        )
    return entries


def results_filename(dataset_id: str) -> str:
    """``.eval_results/<namespace>__<name>.yaml``: one file per benchmark, rewritten on each push."""
    return f"{EVAL_RESULTS_DIR}/{dataset_id.replace('/', '__')}.yaml"


def _owns(api: HfApi, repo_id: str, token: str | None) -> bool:
    """Whether the token's user (or one of its orgs) owns ``repo_id``'s namespace."""
    me = api.whoami(token=token)
    names = {me.get("name")} | {org.get("name") for org in me.get("orgs") or []}
    return repo_id.split("/")[0] in names


def push_eval_results(
    model_repo: str,
    entries: list[EvalResultEntry],
    *,
    api: HfApi | None = None,
    token: str | None = None,
    create_pr: bool | None = None,
) -> Any:
    """Commit the entries as ``.eval_results/<benchmark>.yaml`` to ``model_repo``.

    ``create_pr=None`` opens a pull request when the user does not own the repo and commits
    directly otherwise. Returns the ``CommitInfo`` (its ``pr_url`` is set for a pull request).
    """
    if not entries:
        raise EvalResultsError(model_repo, "no metric results to publish")
    datasets = {e.dataset_id for e in entries}
    if len(datasets) != 1:
        raise EvalResultsError(model_repo, f"entries of several benchmarks: {sorted(datasets)}")
    api = api or HfApi()
    if create_pr is None:
        create_pr = not _owns(api, model_repo, token)
    body = yaml.safe_dump(eval_result_entries_to_yaml(entries), sort_keys=False, allow_unicode=True)
    info = api.upload_file(
        path_or_fileobj=body.encode(),
        path_in_repo=results_filename(datasets.pop()),
        repo_id=model_repo,
        repo_type="model",
        token=token,
        create_pr=create_pr,
        commit_message=f"Add evaluation results ({len(entries)} metric(s)) with ggt-hf",
    )
    logger.info("eval results for %s: %s", model_repo, getattr(info, "pr_url", None) or info)
    return info


def hub_dataset_id(dataset: str) -> str:
    """The Hub id of the benchmark ``dataset`` (a repo id, or a packed folder whose card names one;
    which of the two: :func:`ggt_hf.hub.locations.resolve_location`)."""
    location = resolve_location(dataset, "--dataset")
    if location.is_hub:
        return location.repo_id
    repo_id = read_card_info(location.path, None).repo_id if location.path.is_dir() else None
    if not repo_id:
        raise NoHubDatasetError(
            dataset,
            "a local folder has no Hub id: pass --dataset as a Hub repo id or pack with --repo-id",
        )
    return repo_id


def publish_results(results: dict[str, Any], model_repo: str, dataset: str, **kwargs: Any) -> Any:
    """Entries of ``results`` on the benchmark ``dataset``, pushed to ``model_repo`` (see above)."""
    api = kwargs.pop("api", None)
    entries = entries_from_results(results, hub_dataset_id(dataset), **kwargs)
    return push_eval_results(model_repo, entries, api=api)
