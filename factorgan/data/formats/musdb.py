"""MUSDB18 for singing-voice separation (paper section 4.4), memory-mapped from a cache.

Layouts, detected under ``root`` (read through the ``musdb`` package)::

    <root>/train/<song>.stem.mp4, <root>/test/<song>.stem.mp4          MUSDB18 (needs ffmpeg)
    <root>/train/<song>/{mixture,drums,bass,other,vocals}.wav, test/    MUSDB18-HQ

Preprocessing (the official code's): each source mono (channel mean), resampled to
22,050 Hz, STFT with a 512-sample Hann window and hop 256 (centred), magnitudes with the
highest bin dropped (256 bins), ``log1p``. Accompaniment = drums + bass + other. The
mixture is the file's stored mixture track (``mixture="stored"``, the default: the
official code trained and evaluated on it; in ``.stem.mp4`` files it is AAC-encoded
separately and differs slightly from the sum of the stems), or accompaniment + vocals
(``mixture="sum"``: the sources add up to it exactly, as the generator's mask assumes).

A song becomes one float16 array ``(3, 256, frames)``: mixture | accompaniment | vocals.
The arrays are computed once (in parallel over songs, with a progress bar) into a cache
folder keyed by the file list and every setting, outside the dataset folder, stored
frames-major, and read a snippet at a time with ``pread`` (:class:`SongFile`): memory
does not grow with the number of songs. A training sample is a
snippet of 128 frames starting every 64 frames.

The songs are read in :mod:`factorgan.data.formats.musdb_songs`, cached in
:mod:`factorgan.data.formats.musdb_cache`; this module is the dataset (:class:`MusdbData`).
"""
from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from factorgan.cache import cache_folder
from factorgan.data.interface import TEST, TRAIN, DatasetError, PairedCountError, TrainingData, paired_count
from factorgan.data.formats.musdb_cache import SongFile, build_cache
from factorgan.data.formats.musdb_songs import (  # noqa: F401 (MUSDB_RATE, PARTS, SOURCES, log_spectrogram: here as before)
    HELP, MUSDB_RATE, PARTS, SOURCES, AudioSettings, check_song_files, detect_layout, list_songs, log_spectrogram,
    read_track,
)
from factorgan.method.factorisation import Factorisation

PAIRED_SEED = 1337  # the official code's shuffle of the training songs


# ---- the dataset ------------------------------------------------------------------------
def snippet_index(frames: Sequence[int], length: int, hop: int) -> np.ndarray:
    """``(S, 2)`` rows (song, start frame) of the snippets of ``length`` frames starting
    every ``hop`` frames, as the official code cut them (``range(0, frames - length, hop)``:
    a snippet ending exactly at the song's end is left out; songs of ``length`` frames or
    fewer give none)."""
    rows = [(s, start) for s, n in enumerate(frames) for start in range(0, n - length, hop)]
    return np.array(rows, dtype=np.int64).reshape(-1, 2)


def paired_songs(names: Sequence[str], paired: int, seed: int = PAIRED_SEED) -> list[str]:
    """The first ``paired`` of the training songs after a seeded shuffle (the official
    code's), so 10 ⊂ 20 ⊂ 50 and every model gets the same songs."""
    order = sorted(names)
    random.Random(seed).shuffle(order)
    return order[:paired]


class MusdbData(TrainingData):
    """Snippets of cached spectrograms: samples ``(3, bins, snippet)`` with parts
    mixture (the generator's input) | accompaniment | vocals.

    ``paired`` counts songs: snippets of the first ``paired`` songs after the seeded
    shuffle are complete samples; every training song feeds the marginal pools and, for
    FactorGAN, the generator's inputs.
    """

    def __init__(self, songs: dict[str, list[SongFile]], names: dict[str, list[str]], paired: int,
                 snippet: int = 128, snippet_hop: int = 64, name: str = "MUSDB",
                 tracks: dict[str, list] | None = None, settings: AudioSettings | None = None) -> None:
        self.factorisation = Factorisation(0, [1, 1, 1])
        self.input_parts = 1
        self.name = name
        self.songs, self.names = songs, names
        self.tracks = tracks or {}
        self.settings = settings or AudioSettings()
        self.snippet = int(snippet)
        n_train = len(songs[TRAIN])
        if paired < 0 or paired > n_train:
            err = PairedCountError if paired > n_train else DatasetError
            raise err(f"paired={paired} songs: {name} has {n_train} training songs (paired counts songs; "
                      f"the maximum is paired={n_train})")
        self.paired = int(paired)
        frames = {k: [s.shape[-1] for s in v] for k, v in songs.items()}
        self.index = {k: torch.from_numpy(snippet_index(frames[k], self.snippet, snippet_hop)) for k in songs}
        # the test split's snippets for grids and generic evaluators: consecutive, no overlap
        self.index[TEST] = torch.from_numpy(snippet_index(frames[TEST], self.snippet, self.snippet))
        chosen = set(paired_songs(names[TRAIN], paired))
        paired_ids = torch.tensor([i for i, n in enumerate(names[TRAIN]) if n in chosen], dtype=torch.long)
        self.paired_rows = torch.nonzero(torch.isin(self.index[TRAIN][:, 0], paired_ids)).flatten()
        if len(self.index[TRAIN]) == 0:
            raise DatasetError(f"{name}: no training song is {self.snippet} frames long")
        self._device = torch.device("cpu")

    # ---- shapes and placement -------------------------------------------------------
    @property
    def sample_shape(self) -> tuple[int, ...]:
        return (3, int(self.songs[TRAIN][0].shape[1]), self.snippet)

    @property
    def device(self) -> torch.device:
        return self._device

    def to(self, device, memory_format=torch.preserve_format) -> "MusdbData":
        """Batches are made on ``device``; the spectrograms stay memory-mapped on disk."""
        self._device = torch.device(device)
        return self

    # ---- reading snippets ----------------------------------------------------------
    def _gather(self, split: str, rows: Tensor, channels: slice = slice(None)) -> Tensor:
        """Snippets ``rows`` (indices into the split's snippet index) as float32 on the device."""
        table = self.index[split][rows.cpu()].tolist()  # host read: snippets live on disk anyway
        arrays = [self.songs[split][s].read(t, self.snippet, channels) for s, t in table]
        batch = torch.from_numpy(np.stack(arrays).astype(np.float32))
        return batch.to(self._device, non_blocking=True)

    def _draw(self, n: int, high: int, rng: torch.Generator) -> Tensor:
        return torch.randint(high, (n,), generator=rng, device=rng.device)

    def sample_paired(self, n: int, rng: torch.Generator) -> Tensor:
        if self.paired == 0:
            raise DatasetError("this model needs paired songs but paired=0; set paired ≥ 1")
        return self._gather(TRAIN, self.paired_rows[self._draw(n, len(self.paired_rows), rng).cpu()])

    def sample_part(self, i: int, n: int, rng: torch.Generator) -> Tensor:
        return self._gather(TRAIN, self._draw(n, len(self.index[TRAIN]), rng), slice(i, i + 1))

    def sample_inputs(self, n: int, rng: torch.Generator, paired_only: bool = False) -> Tensor:
        if paired_only:
            return self.sample_paired(n, rng)[:, :1]
        return self.sample_part(0, n, rng)

    def sample_outputs(self, n: int, rng: torch.Generator) -> Tensor:
        return self._gather(TRAIN, self._draw(n, len(self.index[TRAIN]), rng), slice(1, 3))

    # ---- evaluation -----------------------------------------------------------------
    def num_samples(self, split: str = TEST) -> int:
        return len(self.index[split])

    def samples(self, split: str, index: Tensor) -> Tensor:
        return self._gather(split, index)

    def examples(self, n: int) -> Tensor:
        """``n`` test snippets spread evenly over the test songs (the first ones of a song
        are often an intro without vocals), on the CPU."""
        return self.samples(TEST, self.example_rows(n)).cpu()

    def example_rows(self, n: int) -> Tensor:
        """The test split's rows of :meth:`examples`."""
        total = self.num_samples(TEST)
        return torch.linspace(0, total - 1, min(n, total)).round().long()

    def clip_rows(self, row: int, count: int) -> Tensor:
        """Up to ``count`` consecutive test snippets of test row ``row``'s song, around and
        including ``row`` (a song's test snippets follow each other without overlap, so
        they join into a clip of ``count`` snippets' length)."""
        songs = self.index[TEST][:, 0]
        same = torch.nonzero(songs == songs[int(row)]).flatten()
        first, last = int(same[0]), int(same[-1])
        count = max(1, min(int(count), last - first + 1))
        start = min(max(first, int(row) - count // 2), last - count + 1)
        return torch.arange(start, start + count)

    def song_names(self, split: str = TEST) -> list[str]:
        return list(self.names[split])

    def song(self, name: str, split: str = TEST) -> np.ndarray:
        """A whole song's ``log1p`` spectrograms, float16 ``(3, bins, frames)``."""
        return self.songs[split][self.names[split].index(name)].read()

    def song_audio(self, name: str, split: str = TEST) -> tuple[np.ndarray, dict[str, np.ndarray], int]:
        """A test song as recorded (:func:`read_track`): mixture, reference sources, rate."""
        if split not in self.tracks:
            raise DatasetError(f"{self.name} was built without its audio files: song audio is not available")
        return read_track(self.tracks[split][self.names[split].index(name)], self.settings.mixture)

    def __repr__(self) -> str:
        return (f"MusdbData({self.name}: {len(self.songs[TRAIN])} train / {len(self.songs[TEST])} test songs, "
                f"{len(self.index[TRAIN])} training snippets of {self.sample_shape}, paired={self.paired} songs)")


def musdb(
    paired: int | str,
    root: str = "data/musdb18",
    mixture: str = "stored",
    validation: bool = False,
    snippet: int = 128,
    snippet_hop: int = 64,
    sample_rate: int = 22_050,
    n_fft: int = 512,
    hop: int = 256,
    cache_dir: str | None = None,
    workers: int | None = None,
    songs: int | None = None,
) -> MusdbData:
    """MUSDB18 / MUSDB18-HQ under ``root`` as a :class:`MusdbData` (module docstring).

    Args:
        paired: training songs available as complete (mixture, sources) samples.
        mixture: ``stored`` (the file's mixture, the official code's) or ``sum``
            (accompaniment + vocals).
        validation: hold out musdb's 14 validation songs (musdb's train/valid split).
        snippet / snippet_hop: training snippets of ``snippet`` frames every ``snippet_hop``.
        cache_dir: where the spectrograms are cached (None: ``$FACTORGAN_CACHE/musdb`` or
            ``~/.cache/factorgan/musdb``); never the dataset folder.
        workers: processes computing spectrograms (None: the available cores).
        songs: use only the first ``songs`` training and test songs (quick looks, tests).
    """
    root_path = Path(root).expanduser()
    settings = AudioSettings(sample_rate, n_fft, hop, mixture)
    is_wav = detect_layout(root_path)
    check_song_files(root_path, is_wav)
    tracks = {TRAIN: list_songs(root_path, "train", is_wav, "train" if validation else None),
              TEST: list_songs(root_path, "test", is_wav)}
    if songs is not None:
        tracks = {k: v[:songs] for k, v in tracks.items()}
    if not tracks[TRAIN] or not tracks[TEST]:
        raise DatasetError(f"{root_path}: no songs in {'train' if not tracks[TRAIN] else 'test'}.\n"
                           + HELP.format(root=root_path))
    paired = paired_count(paired, len(tracks[TRAIN]))
    if paired > len(tracks[TRAIN]):
        raise PairedCountError(f"paired={paired} songs is larger than the {len(tracks[TRAIN])} training songs "
                               f"of {root_path}; the maximum is paired={len(tracks[TRAIN])}")
    cache = cache_folder(cache_dir, "musdb")
    n_workers = workers or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    folder = build_cache(root_path, is_wav, tracks[TRAIN] + tracks[TEST], settings, cache, n_workers)
    arrays = {k: [SongFile(folder / t.subset / f"{t.name}.npy") for t in v] for k, v in tracks.items()}
    names = {k: [t.name for t in v] for k, v in tracks.items()}
    kind = "MUSDB18-HQ" if is_wav else "MUSDB18"
    return MusdbData(arrays, names, paired, snippet, snippet_hop, name=f"{kind}({root_path})", tracks=tracks,
                     settings=settings)
