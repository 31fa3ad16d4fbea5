"""The `cutout` command: remove (files, folders, failures), invoke, limits."""

from __future__ import annotations

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
