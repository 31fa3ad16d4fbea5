"""The `cutout` command: remove (files, folders, failures), invoke, limits."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from handler import cli
from tests.support import EVENTS, FIXTURES, REPO, decode_image, encode_image, photo


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "handler.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def test_remove_one_file_defaults_next_to_the_input(tmp_path: Path) -> None:
    source = tmp_path / "shoe.jpg"
    source.write_bytes((FIXTURES / "car-1.jpg").read_bytes())
    assert cli.main(["remove", str(source)]) == 0
    result = decode_image((tmp_path / "shoe.cutout.png").read_bytes())
    assert result.mode == "RGBA" and result.size == (480, 360)


def test_remove_a_folder_with_a_bad_file_reports_it_and_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "a.png").write_bytes(encode_image(photo(50, 40)))
    (inputs / "b.jpg").write_bytes(encode_image(photo(30, 20), "JPEG"))
    (inputs / "broken.jpg").write_bytes(b"not really a jpeg")
    (inputs / "notes.txt").write_text("ignored: not an image suffix")
    out = tmp_path / "out"
    status = cli.main(["remove", str(inputs), "-o", str(out), "--format", "webp"])
    assert status == 1
    assert sorted(p.name for p in out.iterdir()) == ["a.webp", "b.webp"]
    assert decode_image((out / "b.webp").read_bytes()).size == (30, 20)
    err = capsys.readouterr().err
    failures = [line for line in err.splitlines() if line.startswith("cutout: ")]
    assert (
        len(failures) == 1 and "broken.jpg" in failures[0] and "unsupported_format" in failures[0]
    )
    assert "3/3" in err  # the progress bar reached the end


def test_mask_crop_and_colour_flags(tmp_path: Path) -> None:
    source = tmp_path / "car.jpg"
    source.write_bytes((FIXTURES / "car-1.jpg").read_bytes())
    target = tmp_path / "mask.png"
    assert cli.main(["remove", str(source), "-o", str(target), "--mask", "--crop"]) == 0
    mask = decode_image(target.read_bytes())
    assert mask.mode == "L" and mask.height < 360
    jpeg = tmp_path / "car-on-blue.jpg"
    assert (
        cli.main(
            ["remove", str(source), "-o", str(jpeg), "--format", "jpeg", "--bg-color", "0000ff"]
        )
        == 0
    )
    assert decode_image(jpeg.read_bytes()).mode == "RGB"


def test_sharp_edges_flag_gives_a_binary_mask(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "car.jpg"
    source.write_bytes((FIXTURES / "car-1.jpg").read_bytes())
    soft, sharp = tmp_path / "soft.png", tmp_path / "sharp.png"
    assert cli.main(["remove", str(source), "-o", str(soft), "--mask"]) == 0
    assert cli.main(["remove", str(source), "-o", str(sharp), "--mask", "--edges", "sharp"]) == 0
    assert len(decode_image(soft.read_bytes()).getcolors() or []) > 2
    assert sorted(c for _, c in decode_image(sharp.read_bytes()).getcolors() or []) == [0, 255]
    with pytest.raises(SystemExit) as info:
        cli.main(["remove", str(source), "--edges", "hard"])
    assert info.value.code == 2 and "--edges" in capsys.readouterr().err


def test_refuses_to_overwrite_its_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "x.png"
    original = encode_image(photo(20, 20))
    source.write_bytes(original)
    assert cli.main(["remove", str(source), "-o", str(source)]) == 1
    assert source.read_bytes() == original
    assert "overwrite" in capsys.readouterr().err


def test_missing_input_and_bad_option_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["remove", "does-not-exist.jpg"]) == 1
    assert cli.main(["remove", "x.jpg", "--bg-color", "nope"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        "cutout: does-not-exist.jpg: no such file",
        "cutout: bg_color must be RRGGBB or RRGGBBAA hex; got 'nope'",
    ]


def test_limits_follow_the_memory_size() -> None:
    small = json.loads(run_cli("limits", env={"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512"}).stdout)
    large = json.loads(run_cli("limits", env={"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "4096"}).stdout)
    assert small["memory_mb"] == 512 and large["memory_mb"] == 4096
    assert 0 < small["max_pixels"] < large["max_pixels"]
    assert small["max_input_bytes"] <= large["max_input_bytes"]


@pytest.mark.slow
def test_invoke_runs_the_lambda_lifecycle(tmp_path: Path) -> None:
    out = tmp_path / "responses.jsonl"
    done = run_cli("invoke", str(EVENTS / "api-v2.json"), "--repeat", "2", "--out", str(out))
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["statusCode"] for r in lines] == [200, 200]


def test_invoke_with_a_broken_event_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert cli.main(["invoke", str(bad)]) == 2
    assert capsys.readouterr().err.startswith("cutout: ")


@pytest.mark.parametrize(
    "command,env,message",
    [
        (
            ["limits"],
            {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "abc"},
            "cutout: AWS_LAMBDA_FUNCTION_MEMORY_SIZE must be a positive integer, got 'abc'",
        ),
        (
            ["remove", "x.jpg"],
            {"CUTOUT_SESSION_PROFILE": "turbo"},
            "cutout: CUTOUT_SESSION_PROFILE must be one of lean, fast, got 'turbo'",
        ),
        (
            ["serve", "--port", "1"],
            {"CUTOUT_THREADS": "0"},
            "cutout: CUTOUT_THREADS must be a positive integer, got '0'",
        ),
        (
            ["invoke", str(EVENTS / "api-v1.json")],
            {"CUTOUT_THREADS": "0"},
            "cutout: CUTOUT_THREADS must be a positive integer, got '0'",
        ),
    ],
)
def test_a_bad_setting_is_one_line_and_status_2(
    command: list[str], env: dict[str, str], message: str
) -> None:
    done = run_cli(*command, env=env)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [message]
    assert done.stdout == ""


def test_a_tier_too_small_for_the_model_is_refused_at_start_up() -> None:
    done = run_cli("limits", env={"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128"})
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert line.startswith(
        "cutout: 128 MB cannot hold u2netp: AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128 is"
    )


def test_in_lambda_a_bad_setting_fails_init_with_a_clear_error() -> None:
    """Lambda reports an exception raised while importing the handler as the init error."""
    done = subprocess.run(
        [sys.executable, "-c", "import handler.app"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "CUTOUT_THREADS": "0", "AWS_LAMBDA_FUNCTION_NAME": "cutout"},
        timeout=120,
    )
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last == (
        "handler.errors.ConfigurationError: CUTOUT_THREADS must be a positive integer, got '0'"
    )


def test_limits_into_a_closed_pipe_is_quiet() -> None:
    """`cutout limits | head -3`: the reader is gone before the write; no traceback."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "handler.cli", "limits"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr
    assert done.stderr == ""


def test_stdout_takes_one_result_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("a.png", "b.png"):
        (tmp_path / name).write_bytes(encode_image(photo(20, 20)))
    assert cli.main(["remove", "a.png", "b.png", "-o", "-"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cutout: -o - (standard output) holds one result")
    assert not (tmp_path / "-").exists()


def test_stdout_for_one_input(tmp_path: Path, capfdbinary: pytest.CaptureFixture[bytes]) -> None:
    source = tmp_path / "a.png"
    source.write_bytes(encode_image(photo(24, 20)))
    assert cli.main(["remove", str(source), "-o", "-"]) == 0
    assert decode_image(capfdbinary.readouterr().out).size == (24, 20)


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar_redraws_only_on_a_terminal() -> None:
    piped = io.StringIO()
    progress = cli.Progress(2, piped, enabled=True)
    progress.step("a.jpg")
    progress.step("b.jpg", failed=True)
    assert "\r" not in piped.getvalue()
    assert piped.getvalue() == "2/2 done, 1 failed\n"
    terminal = FakeTerminal()
    progress = cli.Progress(2, terminal, enabled=True)
    progress.step("a.jpg")
    progress.step("b.jpg")
    assert terminal.getvalue().count("\r") == 2 and "2/2" in terminal.getvalue()


def cached_files() -> int:
    return sum(1 for _ in Path(os.environ["CUTOUT_CACHE_DIR"]).rglob("*.bin"))


def test_no_cache_neither_reads_nor_writes_the_cache(tmp_path: Path) -> None:
    source = tmp_path / "fresh.png"
    source.write_bytes(encode_image(photo(36, 30, seed=77)))
    before = cached_files()
    assert cli.main(["remove", str(source), "--no-cache"]) == 0
    assert cached_files() == before
    assert cli.main(["remove", str(source), "-o", str(tmp_path / "again.png")]) == 0
    assert cached_files() == before + 1


def test_help_shows_defaults_and_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("remove", "serve", "invoke"):
        with pytest.raises(SystemExit):
            cli.main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for expected in (
        "default: png",
        "<stem>.cutout.<ext>",
        "--crop-margin PX with --crop",
        "--no-cache",
        "address to listen on (default: 127.0.0.1)",
        "port (default: 8080)",
        "image files, or folders",
        "default: from the event",
    ):
        assert expected in text, expected
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == "cutout 0.1.0"


@pytest.mark.parametrize(
    "event,handler",
    [
        ("api-v1", "handler.app.lambda_handler"),
        ("api-v2", "handler.app.lambda_handler"),
        ("s3-put", "S3"),
        ("sqs-s3", "S3"),
    ],
)
def test_invoke_picks_the_handler_from_the_event(event: str, handler: str) -> None:
    chosen = cli.handler_for(json.loads((EVENTS / f"{event}.json").read_text()))
    if handler == "S3":
        assert chosen in cli.S3_HANDLERS
        assert callable(cli.load_handler(chosen))
    else:
        assert chosen == handler


@pytest.mark.slow
def test_invoke_takes_several_events_and_keeps_stdout_for_return_values() -> None:
    done = run_cli(
        "invoke", str(EVENTS / "api-v1.json"), str(EVENTS / "api-v2.json"), "--repeat", "2"
    )
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["statusCode"] for r in results] == [200, 200, 200, 200]
    assert '"_aws"' in done.stderr  # the EMF blobs, and the JSON logs, went to stderr


@pytest.mark.slow
def test_serve_says_it_is_ready_then_one_line_per_request() -> None:
    import urllib.request

    from tests.support import free_port

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "handler.cli", "serve", "--port", str(port), "--log-format", "text"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
        env={**os.environ, "CUTOUT_CACHE_DIR": ""},
    )
    try:
        assert server.stdout is not None
        ready = server.stdout.readline()
        assert ready.startswith("cutout 0.1.0 ready in ")
        assert f" s on http://127.0.0.1:{port} (docs at /docs)" in ready
        for part in ("model u2netp-", "2048 MB tier", "fast profile", "cache off"):
            assert part in ready, part
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/remove",
            data=encode_image(photo(32, 24)),
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.status == 200
        line = server.stdout.readline()
        assert " 200 api 32x24 PNG, " in line and "cache miss" in line
        assert not line.startswith("{")
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_crop_margin_without_crop_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["remove", "x.jpg", "--crop-margin", "8"]) == 2
    assert (
        capsys.readouterr().err
        == "cutout: crop_margin=8 needs crop=true (--crop on the command line)\n"
    )
