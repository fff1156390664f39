"""Fixtures of the evaluation tests."""

from __future__ import annotations

import pytest

from ggt_hf.restore.spec import API_KEYS


@pytest.fixture
def user_cwd(tmp_path, monkeypatch):
    """A fresh working folder as a user's shell has it: cwd = ``tmp_path``, offline, no API keys."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GGT_OFFLINE", "1")
    for key in {k for keys in API_KEYS.values() for k in keys}:
        monkeypatch.delenv(key, raising=False)
    return tmp_path
