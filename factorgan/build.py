"""Objects built from a composed config: the one place a config becomes objects.

:func:`build_trainer` returns a complete :class:`~factorgan.training.loop.Trainer` (data,
networks, objective, optimisers, steps, sample writer, evaluations during training, the
config it stores), everything passed to constructors; :func:`load_run` rebuilds a run's
trainer from its directory and a checkpoint. The command lines (:mod:`factorgan.cli`) and
library users call these; library code below takes typed arguments, never the config.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Mapping

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from factorgan.checks import check_batch, check_device
from factorgan.contracts import check_generator, check_steps
from factorgan.data.pools import NO_PAIRS_MODELS
from factorgan.errors import CliError, DatasetError
from factorgan.runs import checkpoint
from factorgan.runs.results.evaluation import DuringTraining, EvaluationPlan, during_training, split_evaluation
from factorgan.runs.rundir.config_file import CONFIG, read_config
from factorgan.training.loop import TrainerSettings, Trainer

# What a trainer is built for (build_trainer's ``purpose``).
Purpose = Literal["new", "resume", "read"]


def resolve_device(name: str) -> torch.device:
    """The device ``name`` (checked by :func:`~factorgan.checks.check_device`): ``auto``
    picks CUDA when present, else the CPU."""
    check_device(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def compiled(net: torch.nn.Module, on: bool) -> torch.nn.Module:
    """``net`` with its forward compiled by ``torch.compile`` when ``on`` (in place, so
    parameter names and checkpoints stay those of the plain network); returns ``net``."""
    if on:
        net.compile()
    return net


def check_pairs(model: str, needs_paired: bool, data: Any, inputs_paired: bool) -> None:
    """Refuse, before anything trains, a model that needs complete samples on data that
    has none (``paired=0``, or users' own data without complete samples)."""
    if data.paired == 0 and (needs_paired or (inputs_paired and data.input_parts)):
        raise DatasetError(
            f"model={model} needs complete samples, but {data.name} has paired=0. Give it some "
            f"(paired ≥ 1), or use a model that trains without them: {NO_PAIRS_MODELS}"
        )


def evaluation_plan(cfg: DictConfig) -> EvaluationPlan | None:
    """The config's ``evaluation`` block split into settings and schedule (None: no evaluation)."""
    return None if cfg.get("evaluation") is None else split_evaluation(cfg.evaluation)


def build_trainer(
    cfg: DictConfig, run_dir: str | Path, config: Mapping[str, Any] | None = None, purpose: Purpose = "new",
) -> Trainer:
    """A complete trainer from a composed config.

    Args:
        cfg: the composed config (``python -m factorgan.train``'s), in today's keys
            (:func:`~factorgan.runs.rundir.compat.current_config` reads earlier ones; a
            run's saved config is read so by :func:`load_run`).
        run_dir: where the run's events, samples and checkpoints go.
        config: the config the trainer stores in its checkpoints (a resume's merge of the
            saved and the current one); default: ``cfg`` resolved.
        purpose: ``new`` (a run that starts: every check), ``resume`` (a run that goes on
            with its own settings: its batch size is not refused again) or ``read``
            (evaluate, sample: neither that check nor evaluations during training).
    """
    run_dir = Path(run_dir)
    if config is None:
        config = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
    device = resolve_device(cfg.device)
    # Convolutions run in NHWC ("channels last") when asked: the same maths, a faster
    # layout for oneDNN (CPU) and cuDNN (tensor cores).
    memory_format = torch.channels_last if cfg.get("channels_last", False) else torch.preserve_format
    compile_nets = bool(cfg.get("compile", False))
    torch.manual_seed(cfg.seed)  # network initialisation
    data = instantiate(cfg.dataset)
    if cfg.get("factorisation") is not None:  # the same samples cut into other parts
        data = data.with_factorisation(instantiate(cfg.factorisation))
    data = data.to(device, memory_format=memory_format)

    def make_generator(out_shape: Any, cond_shape: Any) -> torch.nn.Module:
        net = instantiate(cfg.generator, out_shape=out_shape, cond_shape=cond_shape)
        check_generator(net, f"generator ({cfg.generator.get('_target_')})")
        return compiled(net.to(device, memory_format=memory_format), compile_nets)

    generator = make_generator(out_shape=data.output_shape, cond_shape=data.input_shape)
    # Remedies for few pairs (augment=..., penalty=...): given to the builder only when set
    # (a builder from before them still builds runs without them).
    remedies = {key: instantiate(cfg[key]) for key in ("augment", "penalty") if cfg.get(key) is not None}
    discriminator = instantiate(
        cfg.model.combined,
        make_net=instantiate(cfg.discriminator),
        sample_shape=data.sample_shape,
        factorisation=data.factorisation,
        input_parts=data.input_parts,
        **remedies,
    ).to(device, memory_format=memory_format)
    check_pairs(cfg.model.name, discriminator.needs_paired and cfg.model.get("steps") is None, data,
                cfg.model.generator_inputs == "paired")
    if purpose == "new":  # the data is known now, nothing trained
        check_batch(int(cfg.trainer.batch_size), data, str(cfg.model.name))
    for net in discriminator.nets.values():
        compiled(net, compile_nets)
    steps = None  # GAN / FactorGAN's steps
    if cfg.model.get("steps") is not None:
        # A variant with steps of its own (CycleGAN) builds any further generator with the
        # configured architecture.
        steps = instantiate(cfg.model.steps)(make_generator=make_generator, data=data)
        check_steps(steps, f"model.steps ({cfg.model.steps.get('_target_')})")
    samples = None  # the default sample grid
    if cfg.get("samples") is not None:  # a sample-grid writer other than the default
        samples = instantiate(cfg.samples)(run_dir=run_dir, generator=generator, data=data, seed=cfg.seed)
    during: DuringTraining | None = None
    plan = evaluation_plan(cfg) if purpose != "read" else None
    if plan is not None:
        during = during_training(plan, run_dir)
    return Trainer(
        generator=generator,
        discriminator=discriminator,
        data=data,
        objective=instantiate(cfg.loss),
        make_optimizer=instantiate(cfg.optimizer),
        settings=TrainerSettings(**cfg.trainer),
        run_dir=run_dir,
        seed=cfg.seed,
        generator_inputs_paired_only=cfg.model.generator_inputs == "paired",
        config=dict(config),
        steps=steps,
        samples=samples,
        during_evaluation=during,
    )


# ---- a run read back -----------------------------------------------------------------
def available_checkpoints(run_dir: Path) -> list[str]:
    """The names of the run's checkpoint files."""
    return sorted(p.name for p in checkpoint.checkpoint_dir(run_dir).glob("*.pt"))


def run_config(run_dir: Path, checkpoint_name: str = checkpoint.LAST) -> DictConfig:
    """The run's saved ``config.yaml`` (when damaged or missing: the copy in the checkpoint
    ``checkpoint_name`` or ``last.pt``, said on stderr); clear errors when ``run_dir`` is
    not a run."""
    if not run_dir.is_dir():
        near = sorted(p.name for p in run_dir.parent.iterdir() if p.is_dir()) if run_dir.parent.is_dir() else []
        hint = f"\n  directories in {run_dir.parent}: {', '.join(near)}" if near else ""
        raise CliError(
            f"no run directory {run_dir} (a directory written by python -m factorgan.train, "
            f"e.g. outputs/paired_mnist/factorgan/paired100_lam0.9_seed0){hint}"
        )
    if not (run_dir / CONFIG).exists() and not available_checkpoints(run_dir):
        raise CliError(f"{run_dir} is not a run directory: it has no config.yaml")
    return OmegaConf.create(read_config(run_dir, checkpoint_name))


def load_run(run_dir: str | Path, checkpoint_name: str = checkpoint.LAST, device: str | None = None) -> tuple[Trainer, str]:
    """Rebuild a run's trainer from its ``config.yaml`` and load a checkpoint
    (``last`` or a snapshot such as ``step_0005000``); ``device`` overrides the run's.

    Returns the trainer (networks, data, config of the run) and the checkpoint's file name.
    """
    run_dir = Path(run_dir)
    cfg = run_config(run_dir, checkpoint_name)
    path = checkpoint.find(run_dir, checkpoint_name)
    if path is None:
        have = available_checkpoints(run_dir)
        raise CliError(
            f"no checkpoint {checkpoint_name!r} in {checkpoint.checkpoint_dir(run_dir)}; available: "
            + (", ".join(have) if have else "none (the run has not saved one yet)")
        )
    if device is not None:
        cfg.device = device
    trainer = build_trainer(cfg, run_dir, purpose="read")
    trainer.load_state_dict(checkpoint.load(path, map_location=trainer.device))
    return trainer, path.name
