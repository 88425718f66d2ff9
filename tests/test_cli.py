"""The ``mmalign`` command: each sub-command runs its ``python -m`` entry point with the rest of the
arguments; errors are one line."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from mmalign.cli import COMMANDS, main

MODULES = {"train": "mmalign.train", "gen-pairs": "mmalign.gen_pairs", "evaluate": "mmalign.evaluate"}


def test_help_lists_every_command_with_its_module(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: mmalign COMMAND")
    for name, module in MODULES.items():
        (line,) = [line for line in out.splitlines() if line.strip().startswith(f"{name} ")]
        assert f"(python -m {module})" in line
    assert set(COMMANDS) == set(MODULES)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_command_help_is_the_module_help(name, capsys):
    assert importlib.import_module(MODULES[name]).main(["--help"]) == 0
    expected = capsys.readouterr().out
    assert main([name, "--help"]) == 0
    assert capsys.readouterr().out == expected
    assert "recipes" in expected


@pytest.mark.parametrize("name", sorted(MODULES))
def test_arguments_and_exit_code_pass_through(name, monkeypatch):
    module = importlib.import_module(MODULES[name])
    seen = []
    monkeypatch.setattr(module, "main", lambda argv: seen.append(argv) or 7)
    assert main([name, "recipe=x", "a.b=1", "--flag"]) == 7
    assert seen == [["recipe=x", "a.b=1", "--flag"]]


def test_errors_of_a_command_are_one_line(capsys):
    assert main(["gen-pairs", "recipe=no_such_recipe"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("mmalign.gen_pairs: error: no recipe named 'no_such_recipe'")


def test_unknown_command_is_one_line(capsys):
    assert main(["trian", "recipe=tiny"]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip() == "mmalign: error: unknown command 'trian'; commands: train, gen-pairs, evaluate"
    assert captured.out == ""


def test_python_dash_m_mmalign_is_the_command():
    proc = subprocess.run([sys.executable, "-m", "mmalign", "evalute"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "mmalign: error: unknown command 'evalute'; commands: train, gen-pairs, evaluate"
