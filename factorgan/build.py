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

from factorgan.checks import resolve_device
from factorgan.contracts import check_generator, check_steps
from factorgan.data.checks import check_batch, check_pairs
from factorgan.runs import checkpoint
from factorgan.runs.results.evaluation import during_training, split_evaluation
from factorgan.runs.rundir.saved_run import open_run
from factorgan.training.loop import TrainerSettings, Trainer

# What a trainer is built for (build_trainer's ``purpose``).
Purpose = Literal["new", "resume", "read"]


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
    # Evaluations during training need nothing built: made first, a bad one fails
    # before the data is read.
    during = None
    if purpose != "read" and cfg.get("evaluation") is not None:
        during = during_training(split_evaluation(cfg.evaluation), run_dir)
    # Convolutions run in NHWC ("channels last") when asked: the same maths, a faster
    # layout for oneDNN (CPU) and cuDNN (tensor cores).
    memory_format = torch.channels_last if cfg.get("channels_last", False) else torch.preserve_format
    torch.manual_seed(cfg.seed)  # network initialisation
    data = instantiate(cfg.dataset)
    if cfg.get("factorisation") is not None:  # the same samples cut into other parts
        data = data.with_factorisation(instantiate(cfg.factorisation))
    data = data.to(device, memory_format=memory_format)

    def make_generator(out_shape: Any, cond_shape: Any) -> torch.nn.Module:
        net = instantiate(cfg.generator, out_shape=out_shape, cond_shape=cond_shape)
        check_generator(net, f"generator ({cfg.generator.get('_target_')})")
        return net.to(device, memory_format=memory_format)

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
    steps = None  # GAN / FactorGAN's steps
    if cfg.model.get("steps") is not None:
        # A variant with steps of its own (CycleGAN) builds any further generator with the
        # configured architecture.
        steps = instantiate(cfg.model.steps)(make_generator=make_generator, data=data)
        check_steps(steps, f"model.steps ({cfg.model.steps.get('_target_')})")
    if cfg.get("compile", False):
        # torch.compile each network in place once all are built: parameter names, and
        # so checkpoints, stay those of the plain networks.
        extra = steps.networks().values() if steps is not None else ()
        for net in (generator, *discriminator.nets.values(), *extra):
            net.compile()
    samples = None  # the default sample grid
    if cfg.get("samples") is not None:  # a sample-grid writer other than the default
        samples = instantiate(cfg.samples)(run_dir=run_dir, generator=generator, data=data, seed=cfg.seed)
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


def load_run(run_dir: str | Path, checkpoint_name: str = checkpoint.LAST, device: str | None = None) -> tuple[Trainer, str]:
    """Rebuild a run's trainer from its ``config.yaml`` and load a checkpoint
    (``last`` or a snapshot such as ``step_0005000``); ``device`` overrides the run's.

    Returns the trainer (networks, data, config of the run) and the checkpoint's file name.
    """
    saved = open_run(run_dir, checkpoint_name)
    if device is not None:
        saved.config.device = device
    trainer = build_trainer(saved.config, saved.run_dir, purpose="read")
    trainer.load_state_dict(checkpoint.load(saved.checkpoint, map_location=trainer.device))
    return trainer, saved.checkpoint.name
