"""The CLI's conventions, nothing started: --version, help for every option, human refusals,
and the state directory found from any working directory."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.core.config import IngestSettings, default_state_dir
from truyvet.cli import build_parser, main

REPO_ROOT = Path(__file__).resolve().parents[2]


def _parsers(parser: argparse.ArgumentParser, path: str = "truyvet"):
    yield path, parser
    for action in parser._actions:  # argparse has no public walk of its parsers
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{path} {name}")


def test_every_option_and_argument_of_every_command_has_help() -> None:
    missing = [
        f"{path}: {action.dest}"
        for path, parser in _parsers(build_parser())
        for action in parser._actions
        if not isinstance(action, argparse._SubParsersAction) and not action.help
    ]
    assert missing == []


def test_the_commands_the_issue_names_exist() -> None:
    paths = {path for path, _ in _parsers(build_parser())}
    assert {"truyvet venue list", "truyvet token list", "truyvet case report",
            "truyvet case withdraw", "truyvet trace"} <= paths
    assert build_parser().parse_args(["trace", "X-1", "--json"]).json is True


def test_version_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("truyvet ") and out.split()[1][0].isdigit()


def test_a_bad_setting_is_named_by_its_variable_without_pydantic_internals() -> None:
    env = {**os.environ, "TRUYVET_INGEST_PORT": "eighty"}
    done = subprocess.run([sys.executable, "-m", "truyvet.cli", "token", "list"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "TRUYVET_INGEST_PORT: Input should be a valid integer" in done.stderr
    assert "errors.pydantic.dev" not in done.stderr and "Traceback" not in done.stderr


def test_a_bad_case_is_refused_in_words_before_anything_is_sent(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["case", "report", "HN-1", "--person-id", "0912345678",
                 "--reported-at", "2026-11-23T09:00+07:00", "--token", "t",
                 "--ingest-url", "http://127.0.0.1:9"])  # nothing listens: never reached
    assert code == 2
    err = capsys.readouterr().err
    assert "a case needs onset_at or sampled_at" in err
    assert "pydantic" not in err and "Value error" not in err


def test_a_time_without_a_zone_is_refused_with_the_fix(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as done:
        main(["case", "report", "HN-1", "--person-id", "1", "--onset-at", "2026-11-22T08:00",
              "--token", "t"])
    assert done.value.code == 2
    assert "needs a zone, e.g. 2026-11-22T08:00+07:00" in capsys.readouterr().err


def test_a_case_command_without_a_token_says_how_to_get_one(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TRUYVET_TOKEN", raising=False)
    assert main(["case", "withdraw", "HN-1"]) == 2
    assert "truyvet token add --role authority" in capsys.readouterr().err


def test_the_state_dir_is_the_projects_own_from_any_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TRUYVET_STATE_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert default_state_dir() == REPO_ROOT / ".truyvet"
    assert IngestSettings().state_dir == REPO_ROOT / ".truyvet"
    monkeypatch.setenv("TRUYVET_STATE_DIR", str(tmp_path / "elsewhere"))
    assert IngestSettings().state_dir == tmp_path / "elsewhere"
