"""Up-front checks of a composed config: a value that cannot work is refused with a
message naming the key, before any data is loaded, any network built or any file written.

Hydra accepts any value for any key (``paired=abc``, ``trainer.batch_size=0``); without
these checks such values fail deep inside a constructor with a traceback, or only after
training (an evaluation setting).
"""
from __future__ import annotations

import importlib
import inspect
from dataclasses import fields
from typing import Any, Mapping

import torch
from hydra.utils import get_object

from factorgan.data.interface import is_all
from factorgan.errors import ConfigError
from factorgan.runs.results.evaluation import SCHEDULE_KEYS

# Constructor arguments the training code passes itself (not config keys).
PASSED_BY_CODE = {"make_net", "sample_shape", "factorisation", "input_parts", "out_shape", "cond_shape",
                  "make_generator", "data", "run_dir", "generator", "params"}


def check_paired(paired: Any) -> None:
    """``paired``: a whole number ≥ 0, or ``all`` (every complete sample)."""
    if isinstance(paired, bool) or not (isinstance(paired, int) or is_all(paired)):
        raise ConfigError(f"paired={paired!r} must be a whole number of paired samples (e.g. paired=100), or paired=all")
    if isinstance(paired, int) and paired < 0:
        raise ConfigError(f"paired={paired} must be ≥ 0")


def check_trainer(trainer: Mapping[str, Any]) -> None:
    """``trainer.*``: known keys, whole numbers where counts are meant, the schedule's own checks."""
    from factorgan.training.loop import TrainerSettings

    known = {f.name: f for f in fields(TrainerSettings)}
    for key, value in trainer.items():
        if key not in known:
            raise ConfigError(f"trainer.{key} is not a trainer setting; the settings are: {', '.join(known)}")
        if known[key].type in ("int", int) and (isinstance(value, bool) or not isinstance(value, int)):
            if isinstance(value, float) and value.is_integer():  # 1e12: Hydra reads an exponent as a float
                raise ConfigError(f"trainer.{key}={value:g} is read as a decimal number (Hydra reads 1e6 as "
                                  f"1000000.0); write its digits: trainer.{key}={int(value)}")
            raise ConfigError(f"trainer.{key}={value!r} must be a whole number")
    for key in ("sample_every", "snapshot_every"):
        if trainer.get(key, 0) < 0:
            raise ConfigError(f"trainer.{key}={trainer[key]} must be ≥ 0 (0: off)")
    try:
        TrainerSettings(**trainer)
    except (TypeError, ValueError) as err:
        raise ConfigError(str(err)) from None


def check_device(name: Any) -> None:
    """``device``: auto, cpu, cuda, cuda:N (present on this machine)."""
    if name == "auto":
        return
    try:
        device = torch.device(str(name))
    except RuntimeError:
        raise ConfigError(f"device={name!r} is not a device: use auto, cpu, cuda or cuda:N") from None
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device={name} was asked for but MPS (Apple's GPU) is not available on this machine; "
                          "use device=cpu (or device=auto)")
    if device.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"device={name!r}: factorgan trains on auto, cpu, cuda, cuda:N or mps")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device={name} was asked for but CUDA is not available on this machine; "
                              "use device=cpu (or device=auto)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"device={name}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                              f"cuda:0..cuda:{torch.cuda.device_count() - 1}")


def resolve_device(name: str) -> torch.device:
    """The device ``name`` (checked by :func:`check_device`): ``auto``
    picks CUDA when present, else the CPU."""
    check_device(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def target_parameters(target: str, where: str) -> tuple[set[str], bool]:
    """The keyword arguments ``target`` takes, and whether it also takes ``**kwargs``."""
    try:
        obj = get_object(target)
    except Exception as err:  # ImportError / AttributeError, wrapped by Hydra
        raise ConfigError(f"{where}._target_={target!r} cannot be imported ({err})") from None
    try:
        params = inspect.signature(obj).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: nothing to check
        return set(), True
    names = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return names, any(p.kind == p.VAR_KEYWORD for p in params)


def check_targets(node: Any, where: str = "") -> None:
    """Every ``_target_`` node's keys are arguments of its target (recursively): a typo
    such as ``evaluation.num_sample=100`` is refused, listing the settings there are."""
    if isinstance(node, Mapping):
        target = node.get("_target_")
        if isinstance(target, str):
            names, open_ended = target_parameters(target, where or "config")
            extra = set(SCHEDULE_KEYS) if where == "evaluation" else set()
            unknown = [k for k in node if not str(k).startswith("_") and k not in names | extra]
            if unknown and not open_ended:
                settings = sorted((names | extra) - PASSED_BY_CODE)
                raise ConfigError(
                    f"{where}.{unknown[0]} is not a setting of {target.rsplit('.', 1)[-1]}; its settings: "
                    + ", ".join(f"{where}.{s}" for s in settings)
                )
        for key, value in node.items():
            check_targets(value, f"{where}.{key}" if where else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            check_targets(value, f"{where}[{i}]")


def check_evaluation(evaluation: Mapping[str, Any] | None) -> None:
    """Build the evaluator once (cheap: settings only) so its own checks of its settings
    (``num_samples=0``, too few samples for FID) fail before training, not after it."""
    if evaluation is None:
        return
    from hydra.utils import instantiate

    settings = {k: v for k, v in evaluation.items() if k not in SCHEDULE_KEYS}
    try:
        instantiate(settings)
    except Exception as raised:
        cause: BaseException | None = raised
        while cause is not None and not isinstance(cause, (ConfigError, ValueError, TypeError)):
            cause = cause.__cause__
        message = str(cause if cause is not None else raised)
        raise ConfigError(message if message.startswith("evaluation.") else f"evaluation: {message}") from None


def check_loss(loss: Mapping[str, Any] | None) -> None:
    """Build the generator objective (cheap) so an unknown ``loss.name`` or a bad
    ``loss.alpha`` is a message before training, not a wrapped traceback."""
    if not loss:
        return
    from hydra.utils import instantiate

    try:
        objective = instantiate(dict(loss))
        objective(torch.zeros(2))  # parameters are checked on use (loss.alpha=1)
    except Exception as raised:
        cause: BaseException | None = raised
        while cause is not None and not isinstance(cause, (ConfigError, ValueError, TypeError)):
            cause = cause.__cause__
        raise ConfigError(f"loss: {cause if cause is not None else raised}") from None


def check_config(config: Mapping[str, Any]) -> None:
    """All checks on a resolved config (a plain dict, as saved in ``config.yaml``)."""
    check_missing(config)
    check_paired(config.get("paired"))
    check_name(config.get("name"))
    check_optimizer(config.get("optimizer"))
    if not isinstance(config.get("seed"), int) or isinstance(config.get("seed"), bool):
        raise ConfigError(f"seed={config.get('seed')!r} must be a whole number")
    check_trainer(config.get("trainer") or {})
    check_device(config.get("device", "auto"))
    check_targets(config)
    check_loss(config.get("loss"))
    check_evaluation(config.get("evaluation"))


# What to give for a required key a config leaves unset (``???``), by key.
MISSING_HINTS = {
    "dataset.path": "the .npz file, e.g. dataset.path=data/example_arrays.npz",
    "dataset.sizes": "the parts' lengths along dataset.dim, e.g. 'dataset.sizes=[16,16,16]' (K = 3 parts)",
    "dataset.root": "the folder holding pairs/, A/, B/, e.g. dataset.root=data/example_folders",
}


def missing_keys(node: Any, where: str = "") -> list[str]:
    """Dotted keys whose value is OmegaConf's ``???`` (required, not set)."""
    if isinstance(node, Mapping):
        return [k for key, v in node.items() for k in missing_keys(v, f"{where}.{key}" if where else str(key))]
    return [where] if node == "???" else []


def check_missing(config: Mapping[str, Any]) -> None:
    """A required key left unset (``experiment=arrays`` without ``dataset.path``): name
    each such key with what to give, and the expected layout of the data it reads."""
    keys = missing_keys(config)
    if not keys:
        return
    experiment = config.get("experiment_name") or "this experiment"
    lines = [f"experiment={experiment} needs {', '.join(keys)}, not set:"]
    lines += [f"  {key}: {MISSING_HINTS.get(key, f'give it on the command line, {key}=<value>')}" for key in keys]
    block = config.get(keys[0].split(".")[0])
    layout = _layout(block.get("_target_")) if isinstance(block, Mapping) else None
    raise ConfigError("\n".join(lines) + (f"\n{layout}" if layout else "\nSee docs/your_own_data.md."))


def _layout(target: Any) -> str | None:
    """The ``LAYOUT`` text of a data reader's module (the files it expects), if it has one."""
    if not isinstance(target, str):
        return None
    try:
        layout = getattr(importlib.import_module(target.rsplit(".", 1)[0]), "LAYOUT", None)
    except ImportError:
        return None
    return layout.replace("{root}", "<root>") if isinstance(layout, str) else None


def check_name(name: Any) -> None:
    """``name`` becomes part of the run directory's name: no path separators or ``..``."""
    if name is None:
        return
    text = str(name)
    if "/" in text or "\\" in text or ".." in text or text.strip() in ("", "."):
        raise ConfigError(
            f"name={text!r} must be a plain tag (letters, digits, -, _), without path separators or '..': it "
            "names the run directory inside outputs/; to put a run elsewhere use hydra.run.dir=<dir>"
        )


def check_optimizer(optimizer: Mapping[str, Any] | None) -> None:
    """``optimizer.lr`` a number > 0, and the optimiser built once on a dummy parameter
    (its own checks: betas, eps) so a bad value is a message, not a traceback."""
    if not optimizer:
        return
    lr = optimizer.get("lr")
    if lr is not None and (isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0):
        raise ConfigError(f"optimizer.lr={lr!r} must be a number > 0 (the paper's: optimizer.lr=1e-4)")
    from hydra.utils import instantiate

    try:
        instantiate(dict(optimizer))([torch.nn.Parameter(torch.zeros(1))])
    except Exception as raised:
        cause: BaseException | None = raised
        while cause is not None and not isinstance(cause, (ValueError, TypeError)):
            cause = cause.__cause__
        raise ConfigError(f"optimizer: {cause if cause is not None else raised}") from None
