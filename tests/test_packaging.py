"""The installed layout: a regular (non-editable) wheel claims the one top-level name ``mmalign``
(and the ``mmalign`` command) and keeps working from a folder that holds its own ``eval/`` and
``data_gen/`` packages."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from importlib.metadata import distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "setup.py", "README.md", "mmalign", "eval", "data_gen")


def wheel_building_setuptools() -> str | None:
    """A folder on ``sys.path`` holding a setuptools that builds wheels by itself (70.1 or later).

    A virtual environment chained onto another one may shadow the newer setuptools with its own
    bundled older one, which needs the separate ``wheel`` package to build wheels."""
    best: tuple[tuple[int, ...], str] | None = None
    for dist in distributions(name="setuptools"):
        version = tuple(int(part) for part in dist.version.split(".")[:2] if part.isdigit())
        if version >= (70, 1) and (best is None or version > best[0]):
            best = (version, str(Path(dist.locate_file(""))))
    return best[1] if best else None


def site_packages() -> list[str]:
    """The running environment's package folders, to chain a fresh environment onto (no downloads)."""
    return [entry for entry in sys.path if entry.endswith(("site-packages", "dist-packages"))]


def run(command: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(command, cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{' '.join(command)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    setuptools_dir = wheel_building_setuptools()
    if setuptools_dir is None:
        pytest.skip("no setuptools >= 70.1 in this environment to build the wheel with")
    # Build from a copy: an in-tree build would leave build/ and egg-info behind in the checkout.
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(out), str(source)],
        cwd=source, PYTHONPATH=setuptools_dir)
    (built,) = out.glob("mmalign-*.whl")
    return built


def test_wheel_installs_only_the_mmalign_name(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        tops = {name.split("/")[0] for name in names}
        (top_level,) = [name for name in names if name.endswith(".dist-info/top_level.txt")]
        declared = archive.read(top_level).decode().split()
    assert {top for top in tops if not top.endswith(".dist-info")} == {"mmalign"}
    assert declared == ["mmalign"]
    # every module of the repository's eval/ and data_gen/ folders is inside, renamed
    for folder in ("eval", "data_gen"):
        expected = {f"mmalign/{path.relative_to(ROOT).as_posix()}" for path in (ROOT / folder).rglob("*.py")}
        assert expected and expected <= set(names), sorted(expected - set(names))[:5]
    # the video world's shipped reader, every file of it
    shipped = ROOT / "mmalign" / "world" / "pretrained" / "video_reader"
    expected = {path.relative_to(ROOT).as_posix() for path in shipped.iterdir()}
    assert "mmalign/world/pretrained/video_reader/model.safetensors" in expected
    assert expected <= set(names), sorted(expected - set(names))


def test_installed_wheel_ignores_the_users_eval_and_data_gen_folders(wheel, tmp_path):
    env_dir = tmp_path / "env"
    run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], cwd=tmp_path)
    python = env_dir / "bin" / "python"
    (own_site,) = (env_dir / "lib").glob("python*/site-packages")
    # Chained onto this environment's packages (torch and the rest are not downloaded again).
    (own_site / "_chained.pth").write_text("\n".join(site_packages()) + "\n")
    # --ignore-installed: the chained environment's own mmalign is neither seen nor uninstalled.
    run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--ignore-installed", str(wheel)], cwd=tmp_path)

    user = tmp_path / "user_project"  # a user's repository with packages named like ours
    for folder in ("eval", "data_gen"):
        (user / folder).mkdir(parents=True)
        (user / folder / "__init__.py").write_text(f"raise ImportError('the user folder {folder}/ was imported')\n")
    env = {"PYTHONPATH": "", "HF_HUB_OFFLINE": "1"}
    where = run([str(python), "-c", "import mmalign.eval, mmalign.data_gen; print(mmalign.eval.__file__)"], cwd=user, **env)
    assert Path(where.stdout.strip()).is_relative_to(own_site / "mmalign" / "eval")
    helped = run([str(python), "-m", "mmalign.evaluate", "--help"], cwd=user, **env)
    assert "usage:" in helped.stdout and "benchmarks: chair, pope" in helped.stdout
    # the console command, installed beside the interpreter
    commands = run([str(env_dir / "bin" / "mmalign"), "--help"], cwd=user, **env)
    assert "train" in commands.stdout and "(python -m mmalign.gen_pairs)" in commands.stdout
