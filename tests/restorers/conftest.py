"""Fixtures shared by the restorer tests: the contract every registry architecture must meet.

``restorer_contract`` bundles the checks of the restorer conventions so each ``test_<name>.py`` is a
list of one-line calls plus its architecture's own tests:

* ``official_keys(cls, "<name>__<variant>")``: our ``state_dict`` has exactly the keys and shapes of
  the golden list dumped once from the official code (``official_keys/<name>__<variant>.json``,
  built with that file's ``config``, and its ``num_params`` when given; the model is built on the meta
  device, so no memory or init cost);
* ``restore_odd_size(model)``: ``restore`` on ``1×3×37×53`` returns that shape, finite;
* ``round_trip(model, tmp_path)``: ``save_pretrained`` → safetensors + config.json, and both
  ``from_pretrained`` and ``load_restorer`` give the same config and identical outputs;
* ``registry(name, cls, **tiny)``: listed, and ``build_restorer(name, **tiny)`` builds ``cls`` with them;
* ``convert_synthetic(name, model, tmp_path, top_key=..., prefix=..., extra=None)``: the model's
  weights saved in the official wrapping (``{top_key: {prefix + key: tensor, **extra}}``) convert
  back through :func:`ggt_hf.restorers.convert.convert_checkpoint` to equal weights.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

OFFICIAL_KEYS_DIR = Path(__file__).parent / "official_keys"
ODD_SHAPE = (1, 3, 37, 53)


@pytest.fixture
def torch_single_thread():
    """One intra-op thread: the machine is shared, and tiny models gain nothing from more."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _output(model, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.eval().restore(x)


class RestorerContract:
    """The checks of the restorer conventions (see the module docstring)."""

    def official_keys(self, cls, golden: str):
        data = json.loads((OFFICIAL_KEYS_DIR / f"{golden}.json").read_text())
        # the golden config holds the official constructor's arguments; ones our config does not
        # expose (fixed in our code) cannot change the layout unnoticed: the keys/shapes say so
        fields = cls.config_class.__dataclass_fields__
        with torch.device("meta"):
            model = cls(cls.config_class(**{k: v for k, v in data["config"].items() if k in fields}))
        ours = {k: list(v.shape) for k, v in model.state_dict().items()}
        official = data["keys"]
        assert sorted(set(official) - set(ours)) == [], "keys missing from our model"
        assert sorted(set(ours) - set(official)) == [], "keys the official model does not have"
        wrong = {k: (ours[k], official[k]) for k in official if ours[k] != official[k]}
        assert wrong == {}, "shapes differ (ours, official)"
        if "num_params" in data:
            assert model.num_parameters() == data["num_params"]
        return model

    def restore_odd_size(self, model, shape: tuple[int, ...] = ODD_SHAPE) -> torch.Tensor:
        torch.manual_seed(0)
        y = _output(model, torch.rand(shape))
        assert tuple(y.shape) == tuple(shape)
        assert torch.isfinite(y).all()
        return y

    def round_trip(self, model, tmp_path: Path) -> None:
        from ggt_hf.restorers import load_restorer

        folder = tmp_path / "saved"
        model.save_pretrained(folder)
        assert (folder / "model.safetensors").is_file() and (folder / "config.json").is_file()
        assert not (folder / "pytorch_model.bin").exists()
        x = torch.rand(1, 3, 24, 32, generator=torch.Generator().manual_seed(1))
        expected = _output(model, x)
        for loaded in (type(model).from_pretrained(folder), load_restorer(str(folder), device="cpu")):
            assert type(loaded) is type(model)
            assert loaded.config == model.config
            assert torch.equal(_output(loaded, x), expected)

    def registry(self, name: str, cls, **tiny) -> None:
        from ggt_hf.restorers import build_restorer, get_restorer_class, list_restorers

        assert name in list_restorers()
        assert get_restorer_class(name) is cls
        model = build_restorer(name, **tiny)
        assert type(model) is cls and model.model_type == name
        assert {k: getattr(model.config, k) for k in tiny} == tiny

    def convert_synthetic(
        self, name: str, model, tmp_path: Path, top_key: str, prefix: str = "", extra: dict | None = None
    ) -> None:
        from ggt_hf.restorers import load_restorer
        from ggt_hf.restorers.convert import convert_checkpoint

        state = {prefix + k: v.clone() for k, v in model.state_dict().items()}
        state.update(extra or {})
        path = tmp_path / "official.pth"
        torch.save({top_key: state, "epoch": 3}, path)
        overrides = {k: v for k, v in asdict(model.config).items() if k != "model_type"}
        out = convert_checkpoint(name, path, tmp_path / "converted", config_overrides=overrides)
        converted = load_restorer(str(out), device="cpu").state_dict()
        original = model.state_dict()
        assert converted.keys() == original.keys()
        assert all(torch.equal(converted[k], original[k]) for k in original)


@pytest.fixture
def restorer_contract() -> RestorerContract:
    return RestorerContract()
