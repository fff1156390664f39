"""Each failure a user can type ends in ONE ``error:`` line and a non-zero exit code, before any work.

Commands run through ``ggt_hf.cli.main(argv)`` from a temporary working directory with relative
paths, as a user types them; the training script runs as a subprocess.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ggt_hf.cli import main
from ggt_hf.runtime import network
from ggt_hf.runtime.error_reporting import EXIT_FAILED, EXIT_NETWORK, EXIT_USAGE

ROOT = Path(__file__).resolve().parents[1]


def _photo(path: Path, size: int = 64, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(path)


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def unreachable_hub(monkeypatch: pytest.MonkeyPatch) -> str:
    """No HF_HUB_OFFLINE, and a Hub endpoint where nothing listens (a closed local port)."""
    from huggingface_hub import constants

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("GGT_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # restored by monkeypatch after the probe sets it
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    network.reset()
    yield f"127.0.0.1:{port}"
    network.reset()


def test_unknown_metric_name(cwd, capsys) -> None:
    assert main(["metrics", "list", "lpipss"]) == EXIT_USAGE
    assert "unknown metric 'lpipss'" in _one_error_line(capsys.readouterr().err)


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has a GPU")
def test_device_cuda_without_gpu(cwd, capsys) -> None:
    assert main(["metrics", "list", "psnr", "--device", "cuda"]) == EXIT_USAGE
    assert "CUDA is not available" in _one_error_line(capsys.readouterr().err)


def test_eval_missing_dataset_folder_is_not_tried_as_hub_id(cwd, capsys) -> None:
    _photo(cwd / "preds" / "a.png")
    assert main(["eval", "--pred", "preds", "--dataset", "no_such"]) == EXIT_USAGE
    line = _one_error_line(capsys.readouterr().err)
    assert "--dataset no_such" in line and "not a Hub repo id (a Hub repo id is namespace/name" in line


def test_bench_mfm_unknown_module_and_cwd_importable(cwd, capsys) -> None:
    _photo(cwd / "clean" / "a.png")
    assert main(["bench-mfm", "--system", "no_such_mod:fn", "--clean", "clean"]) == EXIT_USAGE
    assert "no module named 'no_such_mod'" in _one_error_line(capsys.readouterr().err)
    (cwd / "my_restorers.py").write_text("def restore(image, prompt):\n    return image\n")
    assert main(["bench-mfm", "--system", "my_restorers:nope", "--clean", "clean"]) == EXIT_USAGE
    # the module beside the user was imported without PYTHONPATH=.: only the attribute is missing
    assert "my_restorers has no callable 'nope'" in _one_error_line(capsys.readouterr().err)


def test_push_without_network_fails_at_once(cwd, capsys, unreachable_hub, monkeypatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_not_a_real_token")
    (cwd / "ds").mkdir()
    assert main(["push", "ds", "me/data", "--no-check"]) == EXIT_NETWORK
    line = _one_error_line(capsys.readouterr().err)
    assert "needs the Hugging Face Hub" in line and unreachable_hub in line


def test_degrade_missing_folder(cwd, capsys) -> None:
    assert main(["degrade", "no_dir/", "out", "--category", "rain"]) == EXIT_USAGE
    assert "no_dir: no such image or folder" in _one_error_line(capsys.readouterr().err)
    assert not (cwd / "out").exists()


def test_degrade_one_tiny_image_does_not_stop_the_batch(cwd, capsys) -> None:
    for name in ("a", "c"):
        _photo(cwd / "imgs" / f"{name}.png")
    Image.new("RGB", (1, 1)).save(cwd / "imgs" / "b_tiny.png")
    assert main(["degrade", "imgs", "out", "--category", "rain"]) == EXIT_FAILED
    captured = capsys.readouterr()
    assert "b_tiny.png" in captured.err and "2 written, 1 skipped" in captured.out
    assert sorted(p.name for p in (cwd / "out").glob("*.png")) == ["a.png", "c.png"]


def test_ingest_that_ingests_nothing_fails(cwd, capsys) -> None:
    _photo(cwd / "flat" / "a.png")
    code = main(["ingest", "flat", "o", "--category", "rian"])
    captured = capsys.readouterr()
    assert code in (EXIT_FAILED, EXIT_USAGE) and "rian" in captured.out + captured.err


def test_space_with_missing_dataset_refuses_to_start(cwd, capsys) -> None:
    assert main(["space", "--dataset", "no_such_ds"]) == EXIT_USAGE
    assert "--dataset no_such_ds: no such folder" in _one_error_line(capsys.readouterr().err)


def test_build_override_of_wrong_type_refused_before_ingest(cwd, capsys) -> None:
    _photo(cwd / "photos" / "rain" / "a.png")
    (cwd / "b.yaml").write_text("output: run\nsources:\n  - {path: photos/}\n")
    assert main(["build", "b.yaml", "qc.max_attempts=three"]) == EXIT_USAGE
    line = _one_error_line(capsys.readouterr().err)
    assert "qc.max_attempts" in line and "'three'" in line and "an integer" in line
    assert not (cwd / "run").exists()  # nothing was ingested


def test_unexpected_exception_is_one_line_unless_debug(cwd, capsys, monkeypatch) -> None:
    import ggt_hf.commands.validate as validate

    def boom(args):
        raise RuntimeError("something broke\nsecond line")

    monkeypatch.setattr(validate, "run", boom)
    assert main(["validate", "x"]) == EXIT_FAILED
    err = capsys.readouterr().err
    assert _one_error_line(err) == "error: RuntimeError: something broke" and "--debug" in err
    with pytest.raises(RuntimeError):
        main(["--debug", "validate", "x"])


def test_training_script_missing_folder_one_line_once(cwd) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RANK": "0", "HF_HUB_OFFLINE": "1"}
    script = ROOT / "training" / "train_restorer.py"
    recipe = ROOT / "training" / "recipes" / "nafnet" / "tiny_cpu.yaml"
    args = [sys.executable, str(script), "--config", str(recipe), "data.ggt=[{path: /no/such_pairs}]"]
    args.append(f"train.output_dir={cwd / 'run'}")
    main_rank = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert main_rank.returncode == EXIT_USAGE
    assert "such_pairs" in _one_error_line(main_rank.stderr)


@pytest.mark.slow  # a second training-script start-up (~10 s CPU); the folder case runs by default
def test_training_script_missing_token_one_line(cwd) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")}
    env.update(PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", HF_HOME=str(cwd / "hf_home"))
    script = ROOT / "training" / "train_restorer.py"
    recipe = ROOT / "training" / "recipes" / "nafnet" / "tiny_cpu.yaml"
    args = [sys.executable, str(script), "--config", str(recipe), "--push_to_hub", "--hub_model_id", "me/x"]
    args.append(f"train.output_dir={cwd / 'run'}")
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == EXIT_FAILED
    assert "no token found" in _one_error_line(done.stderr)


def test_only_rank_zero_reports(monkeypatch, capsys) -> None:
    from ggt_hf.runtime.error_reporting import run_reporting_errors

    def fail():
        raise FileNotFoundError("pairs: folder not found")

    monkeypatch.setenv("RANK", "1")
    assert run_reporting_errors(fail) == EXIT_USAGE
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("RANK", "0")
    assert run_reporting_errors(fail) == EXIT_USAGE
    assert _one_error_line(capsys.readouterr().err) == "error: pairs: folder not found"


def test_refused_train_test_leak_fails(cwd, capsys) -> None:
    for folder in ("lq/rain", "hq/rain"):
        for name in ("a", "b"):
            _photo(cwd / folder / f"{name}.png", seed=1)  # b (test) is a copy of a (train)
    (cwd / "m.csv").write_text("id,split\na,train\nb,test\n")
    assert main(["pack", ".", "ds", "--manifest", "m.csv"]) == EXIT_FAILED
    assert "1 test pair(s) leak from train" in _one_error_line(capsys.readouterr().err)


# ----------------------------------------------------------- exit codes: one table, true for every command


def test_the_readme_exit_code_table_is_the_codes_table() -> None:
    import re

    from ggt_hf.runtime.error_reporting import EXIT_CODES

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Exit codes", 1)[1].split("\n#", 1)[0]
    rows = dict(re.findall(r"^\| (\d+) \| (.+?) \|$", section, re.M))
    assert {int(code): meaning for code, meaning in rows.items()} == EXIT_CODES


def test_pack_that_packs_nothing_exits_1(cwd, capsys) -> None:
    for i in range(3):  # no LQ file has an HQ partner: 6 problems, 0 pairs
        _photo(cwd / "my_pairs" / "lq" / f"a{i}.png", seed=i)
        _photo(cwd / "my_pairs" / "hq" / f"b{i}.png", seed=i)
    assert main(["pack", "my_pairs/", "leak_ds", "--split", "test"]) == EXIT_FAILED
    assert "nothing to pack (6 problem(s))" in _one_error_line(capsys.readouterr().err)


def test_leaderboard_worker_on_a_missing_dataset_is_named(cwd, capsys) -> None:
    (cwd / "store").mkdir()
    assert (
        main(["leaderboard", "worker", "--store", "store", "--dataset", "missing/", "--once"]) == EXIT_USAGE
    )
    assert "--dataset missing/: no such folder" in _one_error_line(capsys.readouterr().err)


def test_metrics_fetch_offline_is_a_network_failure(cwd, capsys, monkeypatch) -> None:
    from pyiqa.utils import download_util

    monkeypatch.setattr(download_util, "DEFAULT_CACHE_DIR", str(cwd / "pyiqa_cache"))  # nothing cached
    monkeypatch.setenv("GGT_OFFLINE", "1")
    network.reset()
    assert main(["metrics", "fetch", "niqe"]) == EXIT_NETWORK
    line = _one_error_line(capsys.readouterr().err)
    assert "ggt metrics fetch: 1 metric(s) not fetched: HF_HUB_OFFLINE is set" in line


def test_convert_of_a_missing_checkpoint_is_bad_input(cwd, capsys) -> None:
    assert (
        main(["convert", "--model", "nafnet", "--checkpoint", "missing.pth", "--out", "out/"]) == EXIT_USAGE
    )
    assert "missing.pth: checkpoint file not found" in _one_error_line(capsys.readouterr().err)
    assert not (cwd / "out").exists()


def test_commands_that_would_do_nothing_say_so(cwd, capsys) -> None:
    (cwd / "empty").mkdir()
    assert main(["restore", "--model", "classical", "empty", "restored"]) == EXIT_USAGE
    assert "empty: no images to restore here" in _one_error_line(capsys.readouterr().err)
    assert main(["card", "empty"]) == EXIT_USAGE
    assert "empty: empty folder" in _one_error_line(capsys.readouterr().err)
    assert sorted(p.name for p in (cwd / "empty").iterdir()) == []  # no card of nothing, no claim


# ------------------------------------------------- remote paths fail fast: one probe, named host and repo


@pytest.fixture
def hub_connects(unreachable_hub: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Connection attempts to the unreachable Hub endpoint (every socket connect is counted)."""
    from huggingface_hub import constants

    host, port = unreachable_hub.split(":")
    attempts: list[str] = []
    original = socket.socket.connect

    def connect(self, address):
        if tuple(address[:2]) == (host, int(port)):
            attempts.append(unreachable_hub)
        return original(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(Path(unreachable_hub.replace(":", "_")).resolve()))
    return attempts


def test_restore_from_an_unreachable_hub_model_fails_at_once(cwd, capsys, unreachable_hub) -> None:
    _photo(cwd / "in" / "a.png")
    assert main(["restore", "--model", "you/nafnet-ggt", "in", "out"]) == EXIT_NETWORK
    err = capsys.readouterr().err
    line = _one_error_line(err)
    assert "you/nafnet-ggt: ggt restore needs" in line and unreachable_hub in line
    assert "hf download you/nafnet-ggt" in line and "Retry" not in err
    assert not (cwd / "out").exists()


def test_diffusers_restorer_probes_the_hub_once_and_names_the_repo(cwd, capsys, hub_connects) -> None:
    _photo(cwd / "in" / "a.png")
    _photo(cwd / "in" / "b.png", seed=1)
    spec = "diffusers:black-forest-labs/FLUX.1-dev+controlnet=you/cn"
    assert main(["restore", "--model", spec, "in", "out"]) == EXIT_NETWORK
    line = _one_error_line(capsys.readouterr().err)
    assert "black-forest-labs/FLUX.1-dev: ggt restore needs" in line and "config.json" not in line
    assert len(hub_connects) == 1  # one TCP probe; the Hub client never ran


def test_pipeline_load_fails_once_not_per_image(hub_connects) -> None:
    from ggt_hf.backends.diffusers_backend import DiffusersBackend
    from ggt_hf.errors import NetworkUnavailableError

    backend = DiffusersBackend("you/qwen-edit", lora="you/ggt-lora", device="cpu")
    with pytest.raises(NetworkUnavailableError) as first:
        backend.load()
    with pytest.raises(NetworkUnavailableError) as again:
        backend.load()
    assert again.value is first.value and "you/qwen-edit" in str(first.value)
    assert len(hub_connects) == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["pack", "hf://datasets/you/release", "ds"],
        ["mirror", "release", "you/ggt"],
        ["eval", "--pred", "release", "--dataset", "you/ggt-test"],
    ],
    ids=["pack-hf", "mirror", "eval-hub-dataset"],
)
def test_remote_dataset_paths_fail_at_once(cwd, capsys, hub_connects, monkeypatch, argv) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_not_a_real_token")  # mirror checks the token first
    (cwd / "release").mkdir()
    assert main(argv) == EXIT_NETWORK
    line = _one_error_line(capsys.readouterr().err)
    assert "127.0.0.1" in line and "needs" in line and "unreachable" in line
    assert len(hub_connects) == 1


def test_an_http_client_error_names_the_host() -> None:
    import httpx

    from ggt_hf.runtime.error_reporting import classify

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(httpx.ConnectError) as info:
        httpx.get(f"http://127.0.0.1:{port}/v1beta/models")
    code, message = classify(info.value)
    assert code == EXIT_NETWORK and message.startswith(f"cannot reach 127.0.0.1:{port} (httpx")


def test_a_server_that_drops_the_connection_is_a_network_failure_not_a_bug() -> None:
    """A Hub endpoint or proxy that accepts and closes without answering (``RemoteProtocolError``) was
    reported as an internal bug (exit 1, "run again with GGT_DEBUG=1"); it is the network (exit 3)."""
    import threading

    import httpx

    from ggt_hf.runtime.error_reporting import classify

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    port = server.getsockname()[1]

    def drop() -> None:
        with server:
            for _ in range(2):
                conn, _ = server.accept()
                conn.recv(65536)  # read the request first: closing with it unread sends a reset (ReadError)
                conn.close()

    threading.Thread(target=drop, daemon=True).start()
    with pytest.raises(httpx.RemoteProtocolError) as info:
        httpx.get(f"http://127.0.0.1:{port}/api/datasets/org/name")
    code, message = classify(info.value)
    assert code == EXIT_NETWORK
    assert message.startswith(f"cannot reach 127.0.0.1:{port} (httpx.RemoteProtocolError)")
    for fail in (_read_timeout, _reset):
        with pytest.raises(httpx.TransportError) as info:
            httpx.Client(transport=httpx.MockTransport(fail)).get("http://127.0.0.1:1/")
        assert classify(info.value)[0] == EXIT_NETWORK, fail.__name__


def _read_timeout(request):
    import httpx

    raise httpx.ReadTimeout("timed out", request=request)


def _reset(request):
    import httpx

    raise httpx.ReadError("[Errno 104] Connection reset by peer", request=request)


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has a GPU")
def test_multi_gpu_launch_without_gpu_is_one_line(cwd) -> None:
    """As `accelerate launch --config_file training/accelerate_configs/multi_gpu.yaml` starts rank 0
    of 8 (it used to train alone as "1 process", 8 times into the same folder)."""
    env = {k: v for k, v in os.environ.items() if k != "ACCELERATE_USE_CPU"}
    env.update(PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", RANK="0", LOCAL_RANK="0", WORLD_SIZE="8")
    env["LOCAL_WORLD_SIZE"] = "8"
    _photo(cwd / "pairs" / "lq" / "a.png")
    _photo(cwd / "pairs" / "hq" / "a.png")
    script = ROOT / "training" / "train_restorer.py"
    recipe = ROOT / "training" / "recipes" / "nafnet" / "tiny_cpu.yaml"
    args = [sys.executable, str(script), "--config", str(recipe), "data.ggt=[{path: pairs/}]"]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600, cwd=cwd)
    assert done.returncode == EXIT_USAGE
    line = _one_error_line(done.stderr)
    assert "a launch of 8 processes on one machine" in line and "no CUDA GPU" in line
    assert not (cwd / "outputs").exists()


def test_launch_check_allows_cpu_launches_and_enough_gpus() -> None:
    from ggt_hf.errors import UsageError
    from ggt_hf.training.launch_check import check_launch_devices

    check_launch_devices({"WORLD_SIZE": "4", "ACCELERATE_USE_CPU": "true"}, gpus=0)
    check_launch_devices({"WORLD_SIZE": "4", "LOCAL_WORLD_SIZE": "2"}, gpus=2)
    check_launch_devices({}, gpus=0)
    with pytest.raises(UsageError, match="this machine has 2 CUDA GPU"):
        check_launch_devices({"WORLD_SIZE": "8"}, gpus=2)


@pytest.mark.parametrize("hub", ["unreachable", "offline"])
def test_a_missing_path_in_a_local_folder_is_a_missing_folder_not_a_hub_id(
    cwd, capsys, unreachable_hub, monkeypatch, hub
) -> None:
    """After ``ggt demo demo_out`` the dataset is demo_out/build/dataset; ``--dataset demo_out/dataset``
    was sent to the Hub (a network error naming huggingface.co). demo_out/ is a folder here, so it
    is a path in it that does not exist: a usage error naming the folder one level down."""
    if hub == "offline":
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (cwd / "demo_out" / "build" / "dataset").mkdir(parents=True)
    _photo(cwd / "preds" / "a.png")
    assert main(["eval", "--pred", "preds", "--dataset", "demo_out/dataset"]) == EXIT_USAGE
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith(
        f"error: --dataset demo_out/dataset: no such folder ({cwd.resolve()}/demo_out/dataset)"
    )
    assert "did you mean demo_out/build/dataset?" in line
    assert "demo_out/ is a folder here" in line and "needs" not in line and "127.0.0.1" not in line


@pytest.mark.parametrize(
    ("argv", "who"),
    [
        (["restore", "--model", "gemini", "in", "out"], "restorer 'gemini'"),
        (["eval", "--pred", "in", "--dataset", "in", "--judge", "gemini", "--out", "out"], "judge 'gemini'"),
        (
            ["bench-mfm", "--real", "in", "--system", "classical@adaptive:gemini=C", "--out", "out"],
            "system 'C': judge 'gemini'",  # the prompt writer; bench-mfm's default judge is probed too
        ),
    ],
    ids=["restore", "eval", "bench-mfm"],
)
def test_commands_calling_a_hosted_api_stop_at_once_when_its_host_is_unreachable(
    cwd, capsys, monkeypatch, argv, who
) -> None:
    """Not one failed call per image after the SDK's timeouts: one probe, exit 3, host and setting named."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GEMINI_API_KEY", "sk-FAKE-do-not-leak")
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", f"http://127.0.0.1:{port}")
    network.reset()
    _photo(cwd / "in" / "a.png")
    assert main(argv) == EXIT_NETWORK
    err = capsys.readouterr().err
    line = _one_error_line(err)
    assert f"{who}: needs the Gemini API at http://127.0.0.1:{port} (GOOGLE_GEMINI_BASE_URL)" in line
    assert "sk-FAKE-do-not-leak" not in err and not (cwd / "out").exists()
    network.reset()
