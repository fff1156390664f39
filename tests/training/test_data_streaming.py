"""Streaming sources: load_dataset(streaming=True) + split_dataset_by_node, resumable, mixable."""

from __future__ import annotations

import itertools

import pytest
import torch

from ggt_hf.training.data import DataConfig, SourceSpec, build_train_dataset, make_train_loader


def _ids(cfg: DataConfig, n: int, **kwargs) -> list[list[str]]:
    return [b["id"] for b in itertools.islice(iter(make_train_loader(cfg, **kwargs)), n)]


@pytest.fixture(autouse=True)
def _no_shutdown_sleep(monkeypatch):
    # datasets sleeps SLEEP_TIME_ON_THREADS_SHUTDOWN (5 s) whenever a parquet stream ends (arrow
    # issue 45214); the 12-row test streams end every few batches, real shards rarely do.
    import datasets.config

    monkeypatch.setattr(datasets.config, "SLEEP_TIME_ON_THREADS_SHUTDOWN", 0)


@pytest.fixture
def stream_cfg(packed_pairs, training_pairs_dir):
    return DataConfig(
        ggt=[SourceSpec(str(packed_pairs), streaming=True)],
        baseline=[SourceSpec(str(training_pairs_dir))],
        crop_size=16,
        batch_size=4,
        num_workers=0,
        shuffle_buffer=4,
    )


def test_streaming_mixes_and_resumes(stream_cfg):
    assert isinstance(build_train_dataset(stream_cfg), torch.utils.data.IterableDataset)
    loader = make_train_loader(stream_cfg)
    first = next(iter(loader))
    assert first["lq"].shape == (4, 3, 16, 16) and first["source"].count("ggt") == 2
    full = _ids(stream_cfg, 5)
    assert full == _ids(stream_cfg, 5)  # same seed, same stream
    assert full[3:] == _ids(stream_cfg, 2, start_sample=3 * 4)
    with pytest.raises(ValueError, match="divisible"):
        next(iter(make_train_loader(stream_cfg, start_sample=3)))


def test_streaming_with_workers_resumes(stream_cfg):
    stream_cfg.num_workers = 2
    full = _ids(stream_cfg, 5)
    assert full[3:] == _ids(stream_cfg, 2, start_sample=3 * 4)


def test_streaming_ranks_see_disjoint_rows(packed_pairs):
    cfg = DataConfig(
        ggt=[SourceSpec(str(packed_pairs), streaming=True)], crop_size=16, batch_size=3, num_workers=0
    )
    ranks = [list(itertools.chain(*_ids(cfg, 2, rank=r, world_size=2))) for r in (0, 1)]
    assert not set(ranks[0]) & set(ranks[1])
    assert len(set(ranks[0]) | set(ranks[1])) == 12  # 6 rows each: one epoch of the 12
