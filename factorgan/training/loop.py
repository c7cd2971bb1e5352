"""The training loop (docs/method.md): per generator update, ``disc_iter`` discriminator
steps, then the generator step, then logging, samples and checkpoints. What the two steps
compute comes from a steps object (:mod:`factorgan.training.steps`), chosen by the model."""
from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn
from torch.utils.tensorboard import SummaryWriter
from tqdm.auto import tqdm

from factorgan.data.interface import TrainingData
from factorgan.method.discriminator import CombinedDiscriminator
from factorgan.method.losses import Objective
from factorgan.runs import checkpoint
from factorgan.runs.results import metrics_file as run_metrics
from factorgan.runs.results.evaluation import DuringTraining
from factorgan.runs.tensorboard.events import RunWriter
from factorgan.runs.process import signals
from factorgan.runs.tensorboard.scalars import NonFiniteLossError, ScalarLog, check_finite
from factorgan.summary import one_line, tensorboard_layout
from factorgan.samples.grids import SampleWriter
from factorgan.samples.writers import default_writer
from factorgan.training import overfit
from factorgan.training.cuda_graphs import make_step_runner
from factorgan.training.precision import autocast, check_precision
from factorgan.training.steps import AdversarialSteps, StepContext, Steps


@dataclass
class TrainerSettings:
    """The ``trainer`` config group: how long to train, how often to log, sample and
    checkpoint (generator steps), and how each step runs (CUDA graph, precision)."""

    max_steps: int
    disc_iter: int = 2
    batch_size: int = 25
    log_every: int = 100
    sample_every: int = 1000
    ckpt_every: int = 1000
    snapshot_every: int = 0  # also keep checkpoints/step_<step, 7 digits>.pt every N steps (0: off)
    progress: bool = True
    cuda_graph: bool = False  # CUDA: record one whole step as a graph and replay it
    precision: str = "fp32"  # fp32 | bf16 (autocast for the networks' forward passes)

    def __post_init__(self) -> None:
        for name in ("max_steps", "disc_iter", "batch_size", "log_every", "ckpt_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"trainer.{name}={getattr(self, name)} must be ≥ 1")
        check_precision(self.precision)


Schedule = TrainerSettings  # its earlier name


class Trainer:
    """Trains a generator against a :class:`CombinedDiscriminator` on a dataset.

    Args:
        generator: maps (z, inputs) to generated outputs ``(N, *data.output_shape)``.
        discriminator: the combined discriminator (GAN or FactorGAN variant).
        data: training data (:class:`factorgan.data.interface.TrainingData`) on the device.
        objective: generator objective on the combined logit (per-sample loss).
        make_optimizer: builds an optimiser from a parameter list (e.g. Adam partial).
        settings: the `trainer` config group: steps, intervals, precision.
        run_dir: where events, samples and checkpoints go.
        seed: seeds the training RNG (noise, data indices, shuffles).
        generator_inputs_paired_only: conditional GAN baseline: inputs from paired data only.
        config: the resolved config, stored in every checkpoint.
        steps: what the D and G steps compute (default: GAN / FactorGAN's); its further
            networks train with the generator's optimiser.
        samples: the sample-grid writer (default: :func:`default_writer`'s, of ``generator``).
        during_evaluation: evaluations during training (``evaluation.every``; None: off).
    """

    def __init__(
        self,
        generator: nn.Module,
        discriminator: CombinedDiscriminator,
        data: TrainingData,
        objective: Objective,
        make_optimizer: Callable[[list[nn.Parameter]], torch.optim.Optimizer],
        settings: TrainerSettings,
        run_dir: str | Path,
        seed: int = 0,
        generator_inputs_paired_only: bool = False,
        config: dict[str, Any] | None = None,
        steps: Steps | None = None,
        samples: SampleWriter | None = None,
        during_evaluation: DuringTraining | None = None,
    ) -> None:
        self.G, self.D, self.data = generator, discriminator, data
        self.steps: Steps = steps if steps is not None else AdversarialSteps()
        self.extra = self.steps.networks()  # e.g. CycleGAN's inverse generator
        self.settings = settings
        self.run_dir = Path(run_dir)
        self.device = data.device
        self.seed = seed
        self.config = config or {}
        # One optimiser over all sub-discriminators: Adam is per-parameter, so this is
        # the same update as one optimiser per network, in one multi-tensor step.
        self.opt_g = make_optimizer([p for net in (self.G, *self.extra.values()) for p in net.parameters()])
        self.opt_d = make_optimizer(list(self.D.parameters()))
        self.rng = torch.Generator(self.device)
        self.rng.manual_seed(seed)
        self.ctx = StepContext(
            G=generator, D=discriminator, data=data, rng=self.rng, batch_size=settings.batch_size,
            objective=objective, precision=self.precision, inputs_paired_only=generator_inputs_paired_only,
        )
        self.step = 0
        self.scalars = ScalarLog()
        self._writer: SummaryWriter | None = None
        # Set by load_state_dict(resumed=True): TensorBoard drops events an interrupted run
        # wrote after its checkpoint's step, so each step is shown once (SummaryWriter
        # purge_step writes a SessionLog.START at that step; readers drop earlier events at
        # steps >= it).
        self._purge_step: int | None = None
        self._layout_written: RunWriter | None = None  # the writer that holds the Custom Scalars layout
        self.samples = samples if samples is not None else default_writer(self.run_dir, generator, data, seed)
        self.during_evaluation = during_evaluation

    def precision(self) -> contextlib.AbstractContextManager:
        """The forward passes' numeric context (``settings.precision``)."""
        return autocast(self.device, self.settings.precision)

    # ---- the two steps --------------------------------------------------------------
    def discriminator_step(self) -> None:
        terms = self.steps.discriminator_losses(self.ctx)
        total = torch.stack([t.total for t in terms.values()]).sum()
        self.opt_d.zero_grad(set_to_none=True)
        total.backward()
        self.opt_d.step()
        log = {f"loss/d_{k}": t.loss for k, t in terms.items()}
        log.update({f"acc/d_{k}": t.accuracy for k, t in terms.items()})
        log.update({f"overfit/{k}/r_t": t.r_t for k, t in terms.items() if t.r_t is not None})
        log.update({f"loss/penalty_{k}": t.penalty for k, t in terms.items() if t.penalty is not None})
        self.scalars.add(log)

    def generator_step(self) -> None:
        self.D.requires_grad_(False)  # sub-discriminators frozen: no parameter grads
        try:
            loss, log = self.steps.generator_loss(self.ctx)
            self.opt_g.zero_grad(set_to_none=True)
            loss.backward()
            self.opt_g.step()
        finally:
            self.D.requires_grad_(True)
        self.scalars.add({"loss/g": loss, **log})

    def train_step(self) -> None:
        """One generator update: ``disc_iter`` discriminator steps, then the generator step."""
        for _ in range(self.settings.disc_iter):
            self.discriminator_step()
        self.generator_step()

    # ---- loop -----------------------------------------------------------------------
    @property
    def writer(self) -> SummaryWriter:
        if self._writer is None:
            # a failed write (a full disk) stops the run with a message, not a traceback
            self._writer = RunWriter(self.run_dir / "tb", purge_step=self._purge_step)  # type: ignore[assignment]
        return self._writer

    def fit(self) -> None:
        """Train from ``self.step`` to ``settings.max_steps``.

        A stop signal (Ctrl-C, SIGTERM, a cluster's pre-timeout signal; handlers from
        :func:`factorgan.runs.process.signals.install`) ends the loop after the current step: its
        pending scalars are logged, ``last.pt`` is written, and
        :class:`factorgan.runs.process.signals.Interrupted` is raised.
        """
        s = self.settings
        for net in (self.G, self.D, *self.extra.values()):
            net.train()
        bar = tqdm(
            total=s.max_steps, initial=self.step, unit="step", disable=not s.progress,
            dynamic_ncols=True, mininterval=1.0, desc="train",
        )
        run_step = make_step_runner(self.train_step, self.rng, [self.opt_d, self.opt_g], s.cuda_graph)
        try:
            with signals.deferred() as stop:
                while self.step < s.max_steps and not stop.requested:
                    run_step()
                    self.step += 1
                    bar.update(1)
                    self.after_step(bar)
                if stop.requested:
                    # after_step saved this step already at a checkpoint step or the last one
                    if self.step % s.ckpt_every and self.step != s.max_steps:
                        # the scalars since the last log, at this step (as at a checkpoint step:
                        # a resume keeps the events up to its checkpoint's step)
                        means = self.scalars.flush()
                        check_finite(means, self.step)
                        for tag, value in means.items():
                            self.writer.add_scalar(tag, value, self.step)
                        self.save()
                    raise stop.stop(self.step, checkpoint.checkpoint_dir(self.run_dir) / checkpoint.LAST)
        finally:
            bar.close()
            if self._writer is not None:
                self._writer.flush()

    def after_step(self, bar: tqdm | None = None) -> None:
        s, step = self.settings, self.step
        last = step == s.max_steps
        if step % s.log_every == 0 or step % s.ckpt_every == 0 or last:
            means = self.scalars.flush()
            check_finite(means, step)
            for tag, value in means.items():
                self.writer.add_scalar(tag, value, step)
            if bar is not None and "loss/g" in means:
                bar.set_postfix(g=f"{means['loss/g']:.3f}", p_fake=f"{means['prob/d_combined_fake']:.2f}")
        if s.sample_every and (step % s.sample_every == 0 or last):
            self.samples.write(self.writer, step)
        if step % s.ckpt_every == 0 or last:
            self.save()
        if self.during_evaluation is not None and self.during_evaluation.due(step, s.max_steps):
            self.evaluate_during_training()

    # ---- results --------------------------------------------------------------------
    def record_metrics(
        self, metrics: dict[str, float], checkpoint_name: str = checkpoint.LAST,
        settings: dict[str, Any] | None = None, own: bool = True,
    ) -> bool:
        """Evaluation results to ``metrics.json`` (under the checkpoint and ``settings``).

        The run's own result (``own``: the final checkpoint with the run's settings) also
        goes to TensorBoard, once per step: scalars ``eval/<name>`` and the HParams view
        (run settings -> metrics, in the run's own event file: one run in TensorBoard),
        so both show the final model. Other evaluations (other
        checkpoints or settings) stay in ``metrics.json`` only. Returns whether
        TensorBoard was written.
        """
        fresh = run_metrics.write_metrics(self.run_dir, metrics, self.step, checkpoint_name, settings, own)
        if not fresh:
            return False
        self.write_layout(metrics)
        for name, value in metrics.items():
            self.writer.add_scalar(f"eval/{name}", value, self.step)
        self.log_memorisation()  # the curves' last point, beside the result
        self.writer.add_run_hparams(run_metrics.hparams(self.config), {f"hparam/{k}": v for k, v in metrics.items()},
                                    self.step)
        self.writer.flush()
        return True

    def evaluate_during_training(self) -> dict[str, float]:
        """Evaluate the current generator (``evaluation.every``): ``eval/<name>`` at this
        step (curves) and ``during_training`` in ``metrics.json``, never the run's result.

        Training goes on exactly as without it: the evaluator draws its own seeded noise,
        the global random streams are restored afterwards (``fork_rng``), the training
        stream ``self.rng`` is never handed out, and every network gets its mode back.
        """
        during = self.during_evaluation
        assert during is not None
        nets = (self.G, self.D, *self.extra.values())
        modes = [net.training for net in nets]
        cuda = [self.device.index or 0] if self.device.type == "cuda" else []
        # The first evaluation shows the evaluator's messages (e.g. a classifier being
        # trained); later ones print one line, not to break up the progress bar.
        quiet = contextlib.redirect_stdout(io.StringIO()) if during.calls else contextlib.nullcontext()
        with torch.random.fork_rng(devices=cuda), quiet:
            metrics = during.evaluator(self.G, self.data)
        for net, mode in zip(nets, modes):
            net.train(mode)
        during.calls += 1
        run_metrics.write_during_training(self.run_dir, metrics, self.step, during.settings)
        self.write_layout(metrics)
        for name, value in metrics.items():
            self.writer.add_scalar(f"eval/{name}", value, self.step)
        self.log_memorisation()
        self.writer.flush()
        tqdm.write(f"evaluation at step {self.step}: {one_line(metrics)}")
        return metrics

    def write_layout(self, metrics: dict[str, float]) -> None:
        """TensorBoard's Custom Scalars layout (:func:`factorgan.summary.tensorboard_layout`),
        once per writer: the evaluation's charts with their baselines first."""
        if self._writer is not None and self._layout_written is self._writer:
            return
        self.writer.add_custom_scalars(tensorboard_layout(metrics))
        self._layout_written = self._writer

    def log_memorisation(self) -> None:
        """``overfit/<term>/...`` at this step: each term that reads real data on training
        and held-out rows (:func:`factorgan.training.overfit.probe`, its own seeded stream)."""
        for tag, value in overfit.probe(self.D, self.G, self.data, inputs_paired_only=self.ctx.inputs_paired_only).items():
            self.writer.add_scalar(tag, value, self.step)

    # ---- checkpoints ----------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "generator": self.G.state_dict(),
            "discriminator": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "rng": checkpoint.rng_state(self.rng),
            "rng_device": self.device.type,
            "config": self.config,
            **{key: net.state_dict() for key, net in self.extra.items()},
        }

    def _params_finite(self) -> bool:
        nets = (self.G, self.D, *self.extra.values())
        params = [p.detach() for net in nets for p in net.parameters()]
        return bool(torch.stack([p.float().abs().sum() for p in params]).sum().isfinite())

    def save(self) -> Path:
        """Write ``checkpoints/last.pt`` atomically (and a step snapshot if due)."""
        if not self._params_finite():  # never replace a good checkpoint with NaN weights
            raise NonFiniteLossError(f"non-finite weights at step {self.step}")
        state = self.state_dict()
        ckpt_dir = checkpoint.checkpoint_dir(self.run_dir)
        path = ckpt_dir / checkpoint.LAST
        hint = "continue from it: the same command with resume=true (a sweep: run it again)"
        checkpoint.save_atomic(state, path, hint)
        if self.settings.snapshot_every and self.step % self.settings.snapshot_every == 0:
            checkpoint.save_atomic(state, ckpt_dir / f"step_{self.step:07d}.pt", hint)
        return path

    def load_state_dict(self, state: dict[str, Any], resumed: bool = False) -> None:
        """Restore a checkpoint. ``resumed``: training goes on from it, so TensorBoard
        events after its step (written by the interrupted run) are superseded."""
        for key, net in self.extra.items():
            net.load_state_dict(state[key])
        self.G.load_state_dict(state["generator"])
        self.D.load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.step = int(state["step"])
        if resumed and self._writer is None:
            self._purge_step = self.step + 1  # events at the checkpoint's step belong to it
        if state.get("rng_device") == self.device.type:
            checkpoint.restore_rng_state(state["rng"], self.rng)
        else:
            warnings.warn(
                f"resuming on {self.device.type} a run saved on {state.get('rng_device')}: "
                "the random streams restart (seeded by seed and step)"
            )
            self.rng.manual_seed(self.seed + self.step)
