"""The MUSDB18 separation experiment's evaluator (paper section 4.4): separate every test
song, turn the estimates back into audio and score them with BSS Eval v4 (museval).

Per song, as the official code: the mixture (mono, 22,050 Hz, padded by half a window)
is cut into snippets, the last aligned to the song's end (``overlap_add``: half-
overlapping snippets, cross-faded), separated with one noise vector per song, joined,
inverted with the mixture's phase (``griffin_lim``: that many Griffin-Lim iterations
starting from it; the official code's 10 phase iterations are ``griffin_lim=9``), resampled to the song's rate and
duplicated to its channels, then scored against the true vocals and accompaniment.

Aggregations (:mod:`factorgan.metrics.separation`): ``official`` (15-s windows, every
window of every song pooled per source: median, MAD, mean, std; the paper's Figure 6
shows the mean) and ``sisec`` (1-s windows, median per song, then median over songs).
Scoring is slow (minutes per song on a CPU core), so songs are scored in parallel and
each song's scores are kept in ``<run>/separation/<settings>/`` when the evaluator has
a run directory: an interrupted evaluation resumes where it stopped.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from factorgan.data.interface import TEST, DatasetError
from factorgan.errors import ConfigError
from factorgan.metrics import separation
from factorgan.samples.generate import eval_mode, uniform_noise

SOURCES = ("vocals", "accompaniment")
AGGREGATIONS = ("official", "sisec", "both")
WINDOW_S = {"official": 15.0, "sisec": 1.0}


def _score(job: tuple) -> tuple[str, str, dict[str, list]]:
    """One song's per-window scores (run in a worker process)."""
    name, aggregation, refs, ests, rate = job
    scores = separation.score_song(refs, ests, rate=rate, window_s=WINDOW_S[aggregation])
    return name, aggregation, {k: np.asarray(v).tolist() for k, v in scores.items()}


class SeparationEvaluator:
    """``(generator, data) -> {metric: value}`` for :class:`factorgan.data.formats.musdb.MusdbData`.

    Metric keys: ``<measure>_<source>_<statistic>`` for the official aggregation
    (``sdr_vocals_mean``, ``sdr_vocals_median``, …) and ``<measure>_<source>_sisec``;
    with ``baselines``, the same SDR keys with ``_mask0.5`` and ``_oracle`` appended for
    the constant 0.5 mask and the ideal ratio mask, evaluated the same way.

    Args:
        songs: score only the first ``songs`` test songs (None: all).
        aggregation: ``official``, ``sisec`` or ``both``.
        griffin_lim: Griffin-Lim iterations after the mixture's phase (0: the mixture's
            phase, the paper's text; 9: the official code's 10 phase iterations).
        overlap_add: half-overlapping snippets, cross-faded, instead of the official cut.
        baselines: also score the 0.5 mask and the oracle mask.
        workers: scoring processes (None: the available cores; museval's memory grows
            with a song's length, so fewer for long songs on small machines).
        batch_size: snippets per generator call.
        seed: the noise's seed (one noise vector per song).
        run_dir: where per-song scores are kept (set by ``factorgan.train`` and
            ``factorgan.evaluate``; None: nowhere).
    """

    def __init__(
        self, songs: int | None = None, aggregation: str = "official", griffin_lim: int = 0,
        overlap_add: bool = False, baselines: bool = False, workers: int | None = None,
        batch_size: int = 16, seed: int = 0, progress: bool = True, run_dir: str | None = None,
    ) -> None:
        if aggregation not in AGGREGATIONS:
            raise ConfigError(f"evaluation.aggregation={aggregation!r}: choose one of {AGGREGATIONS}")
        if songs is not None and songs < 1:
            raise ConfigError(f"evaluation.songs={songs} must be ≥ 1 (or null: every test song)")
        self.songs, self.aggregation, self.griffin_lim = songs, aggregation, int(griffin_lim)
        self.overlap_add, self.baselines = bool(overlap_add), bool(baselines)
        self.workers = workers or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
        self.batch_size, self.seed, self.progress = batch_size, seed, progress
        self.run_dir = Path(run_dir) if run_dir else None

    # ---- separating one song --------------------------------------------------------
    @torch.no_grad()
    def masks(self, G: nn.Module, data, mix_log: np.ndarray) -> np.ndarray:
        """The generator's sources for a whole song: ``log1p`` ``(2, bins, frames)``."""
        length = data.sample_shape[-1]
        snippets = torch.from_numpy(separation.cut(mix_log[None], length, overlap_add=self.overlap_add)).to(data.device)
        g = torch.Generator(data.device).manual_seed(self.seed)
        z = uniform_noise(1, G.noise_dim, g, data.device)  # one noise vector per song (official)
        out = [G(z.expand(len(chunk), -1), chunk).float().cpu() for chunk in snippets.split(self.batch_size)]
        return separation.join(torch.cat(out).numpy(), mix_log.shape[-1], overlap_add=self.overlap_add)

    def separate(self, G: nn.Module, data, name: str) -> tuple[dict, dict[str, dict], int]:
        """References and estimates ``{kind: (2, samples, channels)}`` of one song (kinds:
        ``model``, and with ``baselines`` also ``mask0.5`` and ``oracle``)."""
        s = data.settings
        mixture, refs, rate = data.song_audio(name, TEST)
        mono = separation.resample(mixture.mean(axis=1), rate, s.sample_rate)
        padded = np.pad(mono, (0, s.n_fft // 2))  # as the official code: half a window of zeros
        mix_stft = separation.stft_mono(padded, s.n_fft, s.hop)
        mix_log = separation.to_model(mix_stft)
        sources_log = {"model": self.masks(G, data, mix_log)}
        if self.baselines:
            mix_lin = separation.from_model(mix_log)[:-1]
            sources_log["mask0.5"] = np.log1p(np.stack([0.5 * mix_lin, 0.5 * mix_lin]))
            true = [np.abs(separation.stft_mono(np.pad(separation.resample(refs[k].mean(axis=1), rate, s.sample_rate),
                                                       (0, s.n_fft // 2)), s.n_fft, s.hop))[:-1]
                    for k in ("accompaniment", "vocals")]
            b = true[0] / np.maximum(true[0] + true[1], 1e-8)  # the ideal ratio mask
            sources_log["oracle"] = np.log1p(np.stack([b * mix_lin, (1 - b) * mix_lin]))
        estimates = {}
        for kind, logs in sources_log.items():
            audio = {}
            for i, src in enumerate(("accompaniment", "vocals")):
                wave = separation.invert(separation.from_model(logs[i]), mix_stft, len(padded), self.griffin_lim,
                                         s.n_fft, s.hop)
                wave = separation.resample(wave[: len(mono)], s.sample_rate, rate)
                wave = np.pad(wave, (0, max(0, len(mixture) - len(wave))))[: len(mixture)]
                audio[src] = np.repeat(wave[:, None], mixture.shape[1], axis=1)  # mono -> the song's channels
            estimates[kind] = np.stack([audio[k] for k in SOURCES]).astype(np.float32)
        return np.stack([refs[k] for k in SOURCES]).astype(np.float32), estimates, rate

    # ---- scoring --------------------------------------------------------------------
    def _store(self, G: nn.Module) -> Path | None:
        """The folder of this evaluation's per-song scores: keyed by the generator's weights
        (a fingerprint) and every setting that changes the numbers."""
        if self.run_dir is None:
            return None
        weights = float(sum(p.detach().double().abs().sum() + p.detach().double().sum() for p in G.parameters()))
        key = {"griffin_lim": self.griffin_lim, "overlap_add": self.overlap_add, "seed": self.seed,
               "weights": f"{weights:.10e}"}
        return self.run_dir / "separation" / hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:10]

    def __call__(self, G: nn.Module, data) -> dict[str, float]:
        if not hasattr(data, "song_audio"):
            raise DatasetError(f"the separation evaluation needs MUSDB songs (experiment=musdb_sep), got {data}")
        names = data.song_names(TEST)[: self.songs]
        aggregations = ["official", "sisec"] if self.aggregation == "both" else [self.aggregation]
        kinds = ["model", "mask0.5", "oracle"] if self.baselines else ["model"]
        store = self._store(G)
        scores: dict[tuple[str, str, str], dict] = {}
        if store is not None:  # scores of an interrupted evaluation of the same checkpoint
            for path in store.glob("*.json"):
                saved = json.loads(path.read_text())
                scores.update({tuple(k.split("|")): v for k, v in saved.items()})  # type: ignore[misc]
        todo = [(n, a, k) for n in names for a in aggregations for k in kinds if (n, a, k) not in scores]
        # one tick per song, once all its scores are in (each song has a score per
        # aggregation and per kind: model, 0.5 mask, oracle)
        left = Counter(n for n, _, _ in todo)
        bar = tqdm(total=len(left), desc="separation scores", unit="song", disable=not self.progress or not todo)
        workers = max(1, min(self.workers, len(todo) or 1))  # one thread each: the workers share the cores
        with eval_mode(G), ProcessPoolExecutor(workers, initializer=torch.set_num_threads, initargs=(1,)) as pool:
            pending = []
            for name in dict.fromkeys(n for n, _, _ in todo):  # separate in order, score in parallel
                refs, ests, rate = self.separate(G, data, name)
                pending += [(k, pool.submit(_score, (name, a, refs, ests[k], rate)))
                            for n, a, k in todo if n == name]
            for kind, future in pending:
                name, a, result = future.result()
                scores[(name, a, kind)] = result
                if store is not None:
                    store.mkdir(parents=True, exist_ok=True)
                    path = store / f"{name}.json"
                    saved = json.loads(path.read_text()) if path.exists() else {}
                    saved[f"{name}|{a}|{kind}"] = result
                    tmp = path.with_suffix(".tmp")
                    tmp.write_text(json.dumps(saved))
                    tmp.replace(path)
                left[name] -= 1
                if not left[name]:
                    bar.update(1)
        bar.close()
        metrics: dict[str, float] = {}
        for kind in kinds:
            suffix = "" if kind == "model" else f"_{kind}"
            for a in aggregations:
                per_song = [{m: np.asarray(v, dtype=float) for m, v in scores[(n, a, kind)].items()} for n in names]
                agg = separation.aggregate_pooled if a == "official" else separation.aggregate_sisec
                values = agg(per_song, list(SOURCES))
                if kind != "model":  # baselines: SDR only
                    values = {k: v for k, v in values.items() if k.startswith("sdr_")}
                metrics.update({f"{k}{suffix}": float(v) for k, v in values.items()})
        return metrics
