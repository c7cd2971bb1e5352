"""End to end: the Hydra configs, a few CPU training steps of every model, run
directories, checkpoints, resume and failure handling."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
import yaml
from omegaconf import OmegaConf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import TINY, compose_config
from factorgan.runs import checkpoint
from factorgan.training.steps import real_batch
from factorgan.errors import RunError
from factorgan.runs.tensorboard.scalars import NonFiniteLossError
from factorgan.build import build_trainer
from factorgan.cli.train import train

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "factorgan" / "configs"
SMALL_NETS = ["generator.hidden=16", "discriminator.hidden=16"]


def scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    acc = EventAccumulator(str(run_dir / "tb"))
    acc.Reload()
    return {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}


def all_weights(trainer) -> dict[str, torch.Tensor]:
    return {**{f"G.{k}": v for k, v in trainer.G.state_dict().items()},
            **{f"D.{k}": v for k, v in trainer.D.state_dict().items()}}


@pytest.mark.parametrize("model", ["factorgan", "factorgan_no_cp", "gan", "gan_big"])
def test_each_model_trains_and_writes_its_run(model, run_dir):
    cfg = compose_config(f"model={model}", *TINY, *SMALL_NETS)
    trainer = train(cfg, run_dir)
    assert trainer.step == 4
    for name in ("config.yaml", "metrics.json", "samples/latest.png", "samples/step_0000004.png",
                 f"checkpoints/{checkpoint.LAST}"):
        assert (run_dir / name).exists(), name
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["model"]["name"] == model
    state = checkpoint.load(run_dir / "checkpoints" / checkpoint.LAST)
    assert state["step"] == 4 and state["config"] == saved
    tags = scalars(run_dir)
    terms = {"gan": ["joint"], "gan_big": ["joint"],
             "factorgan": ["marginal_0", "marginal_1", "dep_p", "dep_q"],
             "factorgan_no_cp": ["marginal_0", "marginal_1", "dep_q"]}[model]
    for term in terms:
        assert f"loss/d_{term}" in tags and f"acc/d_{term}" in tags and f"logit/{term}_fake" in tags
    assert {"loss/g", "prob/d_combined_fake"} <= set(tags)
    # logged against the global generator step, every log_every=2 steps
    assert [s for s, _ in tags["loss/g"]] == [2, 4]
    assert all(0.0 <= v <= 1.0 for _, v in tags["prob/d_combined_fake"])


@pytest.mark.parametrize("model,pair_term", [("factorgan", "dep_p"), ("gan", "joint"), ("factorgan_tree", "dep_p")])
def test_every_model_takes_the_few_pairs_remedies(model, pair_term, tmp_path):
    """The GAN baseline (and a tree) take the same augmentation and penalty as FactorGAN:
    p moves from 0, the penalty is logged and trained, the D loss stays finite."""
    tree = ["model.combined.tree=flat"] if model == "factorgan_tree" else []
    t = train(compose_config(*TINY, *SMALL_NETS, f"model={model}", *tree, "augment=ada",
                             "augment.adaptive.speed=2", "penalty=r1", "trainer.max_steps=4"), tmp_path / "r")
    assert t is not None and pair_term in t.D.augmented and pair_term in t.D.penalised
    tags = scalars(tmp_path / "r")
    assert [s for s, _ in tags["augment/p"]] == [2, 4] and all(0 < v <= 1 for _, v in tags["augment/p"])
    assert all(v > 0 for _, v in tags[f"loss/penalty_{pair_term}"])
    assert f"overfit/{pair_term}/r_t" in tags


def test_the_few_pairs_preset_penalises_d_q_of_every_split_and_the_gan_is_told_to_use_r1(tmp_path):
    """``penalty=pairs`` (docs/experiments/pairing.md): R1 on the terms that read generated
    pairs; on the GAN, which has none, a clear error instead of a silent no-op."""
    flat = build_trainer(compose_config(*TINY, *SMALL_NETS, "penalty=pairs"), tmp_path / "flat")
    assert flat.D.penalised == ("dep_q",) and flat.D.penalty.gamma == 1.0
    tree = build_trainer(compose_config(*TINY, *SMALL_NETS, "model=factorgan_tree", "model.combined.tree=flat",
                                        "penalty=pairs"), tmp_path / "tree")
    assert tree.D.penalised and all(n.startswith("dep_q") for n in tree.D.penalised)
    with pytest.raises(Exception, match=r"penalty.terms=q_dependency selects no term of this model .*joint"):
        build_trainer(compose_config(*TINY, *SMALL_NETS, "model=gan", "penalty=pairs"), tmp_path / "gan")


def test_discriminator_steps_lower_the_discriminator_loss(tmp_path):
    cfg = compose_config(*TINY, *SMALL_NETS, "paired=50", "optimizer.lr=1e-3")
    trainer = build_trainer(cfg, tmp_path)

    def d_loss() -> float:
        trainer.rng.manual_seed(123)  # the same real/fake batches each time
        with torch.no_grad():
            fake = trainer.ctx.generate(200)
            terms = trainer.D.losses(real_batch(trainer.D, trainer.data, 200, trainer.rng), fake, trainer.rng)
        return float(sum(t.loss for t in terms.values()))

    before = d_loss()
    for _ in range(60):
        trainer.discriminator_step()
    assert d_loss() < before - 0.5


def test_generator_step_moves_only_the_generator(tmp_path):
    trainer = build_trainer(compose_config(*TINY, *SMALL_NETS), tmp_path)
    d_before = {k: v.clone() for k, v in trainer.D.state_dict().items() if "sn_" not in k}
    g_before = {k: v.clone() for k, v in trainer.G.state_dict().items()}
    trainer.generator_step()
    for k, v in trainer.D.state_dict().items():
        if "sn_" not in k:
            torch.testing.assert_close(v, d_before[k], rtol=0, atol=0)
    assert any(not torch.equal(v, g_before[k]) for k, v in trainer.G.state_dict().items())
    assert all(p.requires_grad for p in trainer.D.parameters())  # unfrozen afterwards


@pytest.mark.parametrize("remedies", [(), ("augment=ada", "augment.adaptive.speed=3", "penalty=r1")],
                         ids=["plain", "ada-r1"])
def test_resume_equals_uninterrupted(tmp_path, remedies):
    common = [*TINY, *SMALL_NETS, "trainer.ckpt_every=5", "trainer.log_every=5", "trainer.sample_every=0", *remedies]
    straight = train(compose_config(*common, "trainer.max_steps=12"), tmp_path / "a")
    train(compose_config(*common, "trainer.max_steps=5"), tmp_path / "b")
    resumed = train(compose_config(*common, "trainer.max_steps=12", "resume=true"), tmp_path / "b")
    assert resumed.step == straight.step == 12
    a, b = all_weights(straight), all_weights(resumed)
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
    if remedies:  # the adaptive p moved and was carried through the checkpoint
        assert 0 < float(resumed.D.augment.p) <= 1 and "D.augment.p" in a


def test_existing_run_is_not_overwritten_and_resume_checks_the_config(run_dir):
    train(compose_config(*TINY, *SMALL_NETS), run_dir)
    before = (run_dir / "checkpoints" / checkpoint.LAST).read_bytes()
    with pytest.raises(RunError, match="resume=true"):
        train(compose_config(*TINY, *SMALL_NETS), run_dir)
    with pytest.raises(RunError, match=r"lam: 0\.9 -> 0\.5"):
        train(compose_config(*TINY, *SMALL_NETS, "lam=0.5", "resume=true"), run_dir)
    assert (run_dir / "checkpoints" / checkpoint.LAST).read_bytes() == before
    # a larger max_steps (and other intervals) is a resume, not a change
    t = train(compose_config(*TINY, *SMALL_NETS, "trainer.max_steps=6", "trainer.log_every=3", "resume=true"), run_dir)
    assert t.step == 6


def test_nonfinite_loss_stops_and_keeps_the_last_good_checkpoint(run_dir):
    cfg = compose_config(*TINY, *SMALL_NETS, "trainer.max_steps=6")
    trainer = build_trainer(cfg, run_dir)
    trainer.settings.max_steps = 2
    trainer.fit()
    good = checkpoint.load(run_dir / "checkpoints" / checkpoint.LAST)
    trainer.settings.max_steps = 6
    trainer.ctx.objective = lambda v: v * float("nan")  # the generator loss turns NaN
    with pytest.raises(NonFiniteLossError, match="loss/g"):
        trainer.fit()
    kept = checkpoint.load(run_dir / "checkpoints" / checkpoint.LAST)
    assert kept["step"] == 2
    for k, v in good["generator"].items():
        torch.testing.assert_close(kept["generator"][k], v, rtol=0, atol=0)


def test_conditional_generation_keeps_the_input_part(tmp_path):
    for model in ("factorgan", "gan"):
        cfg = compose_config(f"model={model}", "dataset.conditional=true", *TINY, *SMALL_NETS)
        trainer = train(cfg, tmp_path / model)
        assert "marginal_0" not in trainer.D.nets  # no marginal for the generator's input
        trainer.rng.manual_seed(0)
        x = trainer.ctx.generate(8)
        trainer.rng.manual_seed(0)
        cond = trainer.data.sample_inputs(8, trainer.rng, paired_only=model == "gan")
        torch.testing.assert_close(trainer.data.factorisation.split(x)[0], cond, rtol=0, atol=0)


def test_every_experiment_and_model_config_composes():
    experiments = sorted(p.stem for p in (CONFIGS / "experiment").glob("*.yaml"))
    models = sorted(p.stem for p in (CONFIGS / "model").glob("*.yaml"))
    assert "paired_mnist" in experiments and {"gan", "factorgan", "factorgan_no_cp", "gan_big"} <= set(models)
    for experiment in experiments:
        cfg = compose_config(f"experiment={experiment}")
        resolved = OmegaConf.to_container(cfg, resolve=True)
        assert resolved["run_path"].startswith(resolved["experiment_name"] + "/")
    for model in models:
        cfg = compose_config(f"model={model}")
        assert cfg.model.name == model and cfg.run_path.split("/")[1] == model


def test_paper_schedule_is_one_switch_away():
    cfg = compose_config("trainer=paper")
    assert cfg.trainer.max_steps == 200_000 and cfg.trainer.disc_iter == 2 and cfg.trainer.batch_size == 25
    assert cfg.optimizer.lr == 1e-4 and list(cfg.optimizer.betas) == [0.5, 0.999]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "factorgan.train", *args], capture_output=True, text=True, cwd=REPO)


def test_command_line_run_refusal_and_config_printing(tmp_path):
    args = [f"hydra.run.dir={tmp_path / 'run'}", *TINY, *SMALL_NETS]
    first = _cli(*args)
    assert first.returncode == 0, first.stderr
    assert f"Run directory: {tmp_path / 'run'}" in first.stdout and "tensorboard --logdir" in first.stdout
    second = _cli(*args)
    assert second.returncode == 2 and "resume=true" in second.stderr and "Traceback" not in second.stderr
    too_many = _cli(f"hydra.run.dir={tmp_path / 'x'}", "paired=5000", *TINY)
    assert too_many.returncode == 2 and "maximum is paired=4000" in too_many.stderr
    printed = _cli("--cfg", "job", "model=gan")
    assert printed.returncode == 0 and "factorgan.method.variants.joint_discriminator" in printed.stdout
    unknown = _cli("--cfg", "job", "no_such_key=1")
    assert unknown.returncode != 0 and "no_such_key" in unknown.stderr


def test_configs_ship_in_the_wheel(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(REPO)],
        check=True, capture_output=True,
    )
    (wheel,) = tmp_path.glob("factorgan-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for cfg in CONFIGS.rglob("*.yaml"):
        assert f"factorgan/configs/{cfg.relative_to(CONFIGS).as_posix()}" in names
    assert "factorgan/configs/__init__.py" in names and "factorgan/train.py" in names


def test_tensorboard_root_is_the_outputs_folder_for_standard_paths(tmp_path):
    from factorgan.cli.train import tensorboard_root

    run_path = "paired_mnist/gan/paired100_lam0.9_seed0"
    assert tensorboard_root(tmp_path / "outputs" / run_path, run_path) == tmp_path / "outputs"
    assert tensorboard_root(tmp_path / "elsewhere", run_path) == tmp_path / "elsewhere"


@pytest.mark.parametrize("cut, k", [(["factorisation=quadrants"], 4),
                                    (["factorisation=slices", "factorisation.dim=1", "factorisation.sizes=[28,14,14]"], 3)])
def test_factorisation_from_config_trains_k_parts(tmp_path, cut, k):
    trainer = train(compose_config(*TINY, *SMALL_NETS, *cut), tmp_path / "run")
    D = trainer.D
    assert [t.name for t in D.term_list] == [f"marginal_{i}" for i in range(k)] + ["dep_p", "dep_q"]
    x = torch.rand(5, 1, 56, 28)
    terms = D.term_logits(x)
    torch.testing.assert_close(D.combine(terms), terms["dep_p"] - terms["dep_q"] + sum(terms[f"marginal_{i}"] for i in range(k)))
    tags = set(scalars(tmp_path / "run"))
    assert {f"loss/d_marginal_{i}" for i in range(k)} <= tags
