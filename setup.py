"""Package list for setuptools (everything else is in pyproject.toml).

The repository keeps ``data_gen/`` and ``eval/`` at its top level but installs them inside the
``mmalign`` namespace (``mmalign.data_gen``, ``mmalign.eval``): a top-level ``eval`` package would
be shadowed by any ``eval/`` folder in the user's working directory, which Python searches first.
"""

from setuptools import find_packages, setup

NESTED = ("data_gen", "eval")  # folder at the repository root → installed as mmalign.<folder>

packages = find_packages(include=["mmalign", "mmalign.*"])
for folder in NESTED:
    packages += [f"mmalign.{name}" for name in find_packages(include=[folder, f"{folder}.*"])]

setup(packages=packages, package_dir={f"mmalign.{folder}": folder for folder in NESTED})
