"""Shared test helpers: composing the real Hydra configs with overrides."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pytest
from PIL import Image
from hydra import compose, initialize_config_module
from omegaconf import DictConfig

TINY = [
    "trainer.max_steps=4",
    "trainer.log_every=2",
    "trainer.sample_every=2",
    "trainer.ckpt_every=2",
    "trainer.progress=false",
    "device=cpu",
    "evaluation=null",  # tests that evaluate opt in (TINY_EVALUATED: tests/experiments/, test_eval_during.py)
]
TINY_EVALUATED = [o for o in TINY if not o.startswith("evaluation")]  # TINY, keeping the evaluator

# musdb and museval read audio through stempeg, which refuses to import without ffmpeg
# and ffprobe on PATH: those tests are skipped, with the fix, on a machine without them.
needs_ffmpeg = pytest.mark.skipif(
    not (shutil.which("ffmpeg") and shutil.which("ffprobe")),
    reason="needs ffmpeg and ffprobe on PATH (musdb / museval read audio through stempeg): apt-get install ffmpeg",
)


def compose_config(*overrides: str) -> DictConfig:
    """The composed ``train`` config, as ``python -m factorgan.train <overrides>`` sees it."""
    with initialize_config_module("factorgan.configs", version_base="1.3"):
        return compose("train", overrides=list(overrides))


def write_aligned(path, left: np.ndarray, right: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate([left, right], axis=1)).save(path)


def make_edges2shoes(root, n_train: int, n_val: int, size: int, seed: int = 0) -> dict[str, list]:
    """pix2pix's Edges2Shoes layout as lossless PNGs: grey edges (stored RGB, R = G = B) |
    a colour photo; returns the halves per split in natural file order."""
    rng = np.random.default_rng(seed)
    halves: dict[str, list] = {}
    for split, n in (("train", n_train), ("val", n_val)):
        halves[split] = []
        for i in range(1, n + 1):
            grey = rng.integers(0, 256, (size, size), dtype=np.uint8)
            edges = np.repeat(grey[:, :, None], 3, axis=2)
            photo = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            write_aligned(root / "edges2shoes" / split / f"{i}_AB.png", edges, photo)
            halves[split].append((grey, photo))
    return halves


@pytest.fixture(autouse=True, scope="session")
def classifier_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Tests never write the MNIST classifier into the user's ~/.cache/factorgan."""
    path = tmp_path_factory.mktemp("factorgan_cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FACTORGAN_CACHE", str(path))
        yield path


@pytest.fixture
def make_config() -> Callable[..., DictConfig]:
    return compose_config


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return tmp_path / "run"
