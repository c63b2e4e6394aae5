"""The claims review's libraries are optional extras of the package: the PA service (``priorauth
serve``) needs none of them, and PySpark alone is hundreds of megabytes and a JVM. A command that
needs one that is not installed stops with one line saying how to install it."""

from __future__ import annotations

import importlib

from priorauth.errors import PriorAuthError

# In step with pyproject.toml's optional-dependencies: the message names the extra to install.
CLAIMS = ("claims", ("duckdb", "pyarrow"))
SPARK = ("spark", ("pyspark", "duckdb", "pyarrow"))


class MissingExtra(PriorAuthError):
    """A feature whose optional libraries are not installed: names them and the pip command."""


def require(feature: str, extra: tuple[str, tuple[str, ...]]) -> None:
    """Import the extra's libraries, or raise MissingExtra naming what ``feature`` lacks."""
    name, modules = extra
    missing: list[str] = []
    for module in modules:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            # The library, or one it needs (py4j for pyspark): the extra installs both.
            gone = (exc.name or module).split(".")[0]
            if gone not in missing:
                missing.append(gone)
    if missing:
        names = missing[0] if len(missing) == 1 else f"{', '.join(missing[:-1])} and {missing[-1]}"
        raise MissingExtra(
            f"{feature} needs {names}, not installed here: pip install 'priorauth[{name}]'"
        )
