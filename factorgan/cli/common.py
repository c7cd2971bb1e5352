"""Shared pieces of the run-level command lines (``python -m factorgan.evaluate``, ``python -m factorgan.sample``):
``key=value`` arguments and expected errors as messages (a run is rebuilt by
:func:`factorgan.build.load_run`)."""
from __future__ import annotations

import sys
from typing import Any, Callable

from factorgan.build import available_checkpoints, load_run, run_config  # noqa: F401 (here as before)
from factorgan.errors import CliError, user_error


def parse_args(argv: list[str], known: dict[str, str], doc: str, prefixes: tuple[str, ...] = ()) -> dict[str, str]:
    """``key=value`` tokens -> dict. ``-h``/``--help`` prints ``doc`` and exits.

    Args:
        known: allowed keys -> their default ("" for required, "None" for optional).
        prefixes: dotted prefixes also allowed (e.g. ``evaluation.``).
    """
    if any(a in ("-h", "--help", "help") for a in argv):
        print(doc.strip())
        raise SystemExit(0)
    out: dict[str, str] = {}
    for arg in argv:
        key, sep, value = arg.partition("=")
        if not sep or not key:
            raise CliError(f"arguments are key=value, got {arg!r} (see --help)")
        if key not in known and not key.startswith(prefixes):
            raise CliError(f"unknown argument {key!r}; known: {', '.join(known)} (see --help)")
        out[key] = value
    missing = [k for k, default in known.items() if default == "" and k not in out]
    if missing:
        raise CliError(f"missing {', '.join(f'{k}=...' for k in missing)} (see --help)")
    return {**{k: v for k, v in known.items() if v not in ("", "None")}, **out}


def main_guard(main: Callable[[list[str]], Any], argv: list[str] | None = None) -> None:
    """Run ``main`` and turn expected errors into a message and exit code 2 (no traceback)."""
    try:
        main(sys.argv[1:] if argv is None else argv)
    except Exception as raised:
        err = user_error(raised)
        if err is None:
            raise
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
