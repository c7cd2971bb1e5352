"""The grammar the run-level commands share with ``python -m factorgan.train``.

Every command takes ``key=value`` overrides in Hydra's override syntax (the values of
``factorgan.train``: ``n=2000``, ``overwrite=true``, ``'evaluation.during={num_samples:
500}'``), ``--help`` and ``--cfg job`` (print the composed arguments and exit). Paths
(``run=``, ``out=``, ``dir=``) are taken as written. Earlier spellings stay accepted:
``factorgan.results <dir> --out <dir> --scalars TAG ...``. Expected errors become a
message and exit code 2 (:func:`main_guard`); a run is rebuilt by
:func:`factorgan.build.load_run`.
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from omegaconf import OmegaConf

from factorgan.build import load_run  # noqa: F401 (here as before)
from factorgan.runs.rundir.saved_run import available_checkpoints, run_config  # noqa: F401 (here as before)
from factorgan.errors import CliError, user_error

REQUIRED = "???"  # a key the command cannot do without (OmegaConf's and Hydra's mark)
_KEY = re.compile(r"^\+?[A-Za-z_][\w.]*$")  # an override's key (a path such as out/a=b is not one)
GRAMMAR_HELP = (
    "Arguments are key=value in Hydra's override syntax, as for python -m factorgan.train;\n"
    "--cfg job prints the composed arguments and exits; --help prints this."
)


@dataclass(frozen=True)
class Command:
    """One command's arguments: ``defaults`` (:data:`REQUIRED` for required keys; a
    default's type is the value's type), ``paths`` (keys taken as written), ``prefixes``
    (dotted keys passed on, e.g. ``evaluation.``), and the earlier spellings: a
    ``positional`` key and ``flags`` (``--out`` -> ``out``; ``many``: flags taking
    several values)."""

    prog: str
    usage: str
    doc: str
    defaults: Mapping[str, Any]
    paths: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()
    positional: str | None = None
    flags: Mapping[str, str] = field(default_factory=dict)
    many: frozenset[str] = frozenset()

    def help(self) -> str:
        keys = " ".join(f"{k}={'<required>' if v == REQUIRED else _show(v)}" for k, v in self.defaults.items())
        return f"usage: {self.prog} {self.usage}\n\n{self.doc.strip()}\n\n{GRAMMAR_HELP}\nDefaults: {keys}"

    def parse(self, argv: list[str]) -> dict[str, Any]:
        """``argv`` -> ``{key: value}`` with every default filled in (dotted keys under
        ``prefixes`` as given). ``--help`` and ``--cfg job`` print and exit 0."""
        if any(a in ("-h", "--help", "help") for a in argv):
            print(self.help())
            raise SystemExit(0)
        tokens, show = _take_cfg(list(argv))
        given: dict[str, Any] = {}
        i = 0
        while i < len(tokens):
            arg = tokens[i]
            i += 1
            if arg.startswith("--"):
                name, sep, value = arg.partition("=")
                if name not in self.flags:
                    raise CliError(f"unknown option {name} (see --help)")
                values = [value] if sep else []
                while not sep and i < len(tokens) and not _is_option_or_override(tokens[i]) \
                        and (name in self.many or not values):
                    values.append(tokens[i])
                    i += 1
                if not values:
                    raise CliError(f"{name} needs a value (see --help)")
                key = self.flags[name]
                given[key] = values if name in self.many else values[0]
            elif "=" in arg and _KEY.match(arg.partition("=")[0]):
                key, _, text = arg.partition("=")
                key = key.lstrip("+")
                given[key] = self._value(key, text, arg)
            elif self.positional is not None and self.positional not in given:
                given[self.positional] = arg
            else:
                raise CliError(f"arguments are key=value, got {arg!r} (see --help)")
        missing = [k for k, v in self.defaults.items() if v == REQUIRED and k not in given]
        if missing:
            raise CliError(f"missing {', '.join(f'{k}=...' for k in missing)} (see --help)")
        args = {**self.defaults, **given}
        if show:
            nested = OmegaConf.create({})
            for key, value in args.items():
                OmegaConf.update(nested, key, value, merge=True)
            print(OmegaConf.to_yaml(nested), end="")
            raise SystemExit(0)
        return args

    def _value(self, key: str, text: str, arg: str) -> Any:
        """The value of ``key=text``: a path as written, else Hydra's reading, checked
        against the default's type."""
        if key not in self.defaults and not key.startswith(self.prefixes):
            raise CliError(f"unknown argument {key!r}; known: {', '.join(self.defaults)} (see --help)")
        if key in self.paths:
            return text
        value = _hydra_value(arg)
        default = self.defaults.get(key)
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise CliError(f"{key}={text} must be true or false")
        elif isinstance(default, int) and (isinstance(value, bool) or not isinstance(value, int)):
            raise CliError(f"{key}={text} must be a whole number")
        elif isinstance(default, list) and not isinstance(value, list):
            value = [value]
        elif isinstance(default, str) and not isinstance(value, str):
            value = text
        return value


def _show(value: Any) -> str:
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def _is_option_or_override(token: str) -> bool:
    return token.startswith("-") or ("=" in token and bool(_KEY.match(token.partition("=")[0])))


def _take_cfg(tokens: list[str]) -> tuple[list[str], bool]:
    """Remove ``--cfg job`` (``--cfg=job``, ``-c job``) from ``tokens``; whether it was there."""
    for i, token in enumerate(tokens):
        name, sep, value = token.partition("=")
        if name in ("--cfg", "-c"):
            if not sep:
                value = tokens[i + 1] if i + 1 < len(tokens) else ""
            if value != "job":
                raise CliError(f"--cfg {value or '?'}: this command prints --cfg job (its arguments composed)")
            return tokens[:i] + tokens[i + (1 if sep else 2):], True
    return tokens, False


def _hydra_value(arg: str) -> Any:
    """The value of one ``key=value`` override as ``python -m factorgan.train`` reads it."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        override = OverridesParser.create().parse_override(arg)
    except HydraException as err:
        raise CliError(f"cannot read {arg!r}: {err}") from None
    if override.is_sweep_override():
        raise CliError(f"{arg}: one value per key (sweeps are python -m factorgan.train -m)")
    return override.value()


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
