"""Audio source separation (MUSDB18, paper section 4.4): spectrogram helpers, turning
estimated spectrograms back into audio, and BSS Eval v4 scoring with museval.

Spectrogram convention (:mod:`factorgan.data.formats.musdb`): mono audio at 22,050 Hz, STFT with
a 512-sample Hann window and hop 256, centred (reflect padding, ``torch.stft``), so
257 bins; the model sees ``log1p`` magnitudes with the top bin dropped, ``(256, frames)``,
in snippets of 128 frames.

A song's pipeline, as in the official code:

1. :func:`stft_mono` of the mixture, :func:`to_model`, :func:`cut` into snippets.
2. The generator separates every snippet; :func:`join` puts the song back together
   (official: consecutive snippets, the last aligned to the end and overwriting the
   overlap; ``hop < length``: overlapping snippets cross-faded).
3. :func:`from_model` and :func:`invert` with the mixture's phase (the paper's text;
   ``griffin_lim_iters > 0`` refines it), :func:`resample` back to 44,100 Hz.
4. :func:`score_song` (museval's BSS Eval v4, per window), then an aggregation:

   - :func:`aggregate_pooled` (official FactorGAN): ``score_song(..., window_s=15)``,
     every window of every song pooled per source and measure; median, MAD, mean, std.
   - :func:`aggregate_sisec` (SiSEC 2018 / open-unmix): ``score_song(..., window_s=1)``,
     median over a song's windows, then median over songs.

museval gives NaN for a window in which *any* reference or estimate is silent (all
zeros), for every source of that window; both aggregations skip NaN windows.
"""
from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
import torch

MEASURES = ("sdr", "sir", "sar", "isr")


# ---- snippets -------------------------------------------------------------------------
def snippet_starts(frames: int, length: int = 128, hop: int | None = None) -> list[int]:
    """First frames of the snippets covering a song of ``frames`` frames: every ``hop``
    frames (None: ``length``, consecutive), plus one aligned to the song's end if the
    regular ones miss its tail (it overlaps the one before)."""
    hop = length if hop is None else hop
    if length < 1 or not 1 <= hop <= length:
        raise ValueError(f"need length ≥ 1 and 1 ≤ hop ≤ length (no gaps), got length={length}, hop={hop}")
    if frames < length:
        raise ValueError(f"a song of {frames} frames is shorter than one snippet of {length} frames: "
                         f"pad its spectrogram to at least {length} frames or use shorter snippets")
    starts = list(range(0, frames - length + 1, hop))
    if starts[-1] + length < frames:
        starts.append(frames - length)
    return starts


def _resolve_hop(length: int, hop: int | None, overlap_add: bool) -> int:
    if overlap_add:
        if hop is not None:
            raise ValueError("give either hop or overlap_add=True (which means hop = length // 2), not both")
        if length < 2:
            raise ValueError(f"overlap_add needs snippets of ≥ 2 frames, got length={length}")
        return length // 2
    return length if hop is None else hop


def cut(spec: np.ndarray, length: int = 128, hop: int | None = None, overlap_add: bool = False) -> np.ndarray:
    """``(C, bins, frames)`` -> snippets ``(S, C, bins, length)`` at :func:`snippet_starts`
    (``overlap_add=True``: ``hop = length // 2``). Keeps the dtype."""
    spec = np.asarray(spec)
    if spec.ndim != 3:
        raise ValueError(f"cut needs a (channels, bins, frames) spectrogram, got shape {spec.shape}; "
                         "add a channel axis with spec[None]")
    hop = _resolve_hop(length, hop, overlap_add)
    return np.stack([spec[..., t:t + length] for t in snippet_starts(spec.shape[-1], length, hop)])


def crossfade(length: int) -> np.ndarray:
    """Overlap-add weights ``(length,)``: a Hann shape sampled between the ends, so every
    weight is positive (a frame covered by one snippet only keeps its value) and two
    snippets half a length apart sum to 1."""
    return np.sin(np.pi * (np.arange(length) + 0.5) / length) ** 2


def join(snippets: np.ndarray, frames: int, hop: int | None = None, overlap_add: bool = False) -> np.ndarray:
    """Snippets ``(S, C, bins, length)`` from :func:`cut` with the same ``hop`` /
    ``overlap_add`` -> float32 ``(C, bins, frames)``.

    ``hop`` None or ``length`` (official): snippets placed in order, later ones overwrite
    the overlap. ``hop < length``: a weighted mean over the snippets covering each frame,
    weights :func:`crossfade`. Both give back exactly what :func:`cut` cut.
    """
    snippets = np.asarray(snippets)
    if snippets.ndim != 4:
        raise ValueError(f"join needs snippets (S, channels, bins, length), got shape {snippets.shape}")
    length = snippets.shape[-1]
    hop = _resolve_hop(length, hop, overlap_add)
    starts = snippet_starts(frames, length, hop)
    if len(starts) != len(snippets):
        raise ValueError(f"{len(snippets)} snippets of {length} frames, but a song of {frames} frames "
                         f"with hop {hop} has {len(starts)}: join with the frames and hop given to cut")
    if hop == length:
        out = np.empty(snippets.shape[1:3] + (frames,), dtype=np.float32)
        for t, snippet in zip(starts, snippets):
            out[..., t:t + length] = snippet
        return out
    # float64 sums: the weighted mean of equal float32 values rounds back to them exactly.
    weight = crossfade(length)
    total = np.zeros(snippets.shape[1:3] + (frames,))
    weights = np.zeros(frames)
    for t, snippet in zip(starts, snippets):
        total[..., t:t + length] += weight * snippet
        weights[t:t + length] += weight
    return (total / weights).astype(np.float32)


# ---- spectrograms and audio -----------------------------------------------------------
def stft_mono(audio: np.ndarray, n_fft: int = 512, hop: int = 256) -> np.ndarray:
    """Mono audio ``(samples,)`` -> complex64 STFT ``(n_fft // 2 + 1, frames)``, Hann window,
    centred, ``frames = 1 + samples // hop`` (the dataset's transform)."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError(f"stft_mono needs mono audio (samples,), got shape {audio.shape}; "
                         "average the channels first (audio.mean(axis=1))")
    spec = torch.stft(torch.from_numpy(audio), n_fft, hop, window=torch.hann_window(n_fft),
                      center=True, return_complex=True)
    return spec.numpy()


def to_model(stft: np.ndarray) -> np.ndarray:
    """STFT (complex) or magnitudes ``(bins_all, frames)`` -> the model's float32
    ``log1p`` magnitudes ``(bins_all - 1, frames)``: the top bin dropped."""
    stft = np.asarray(stft)
    if stft.ndim != 2:
        raise ValueError(f"to_model needs one (bins, frames) spectrogram, got shape {stft.shape}")
    return np.log1p(np.abs(stft[:-1])).astype(np.float32)


def from_model(log_mag: np.ndarray) -> np.ndarray:
    """The model's ``log1p`` magnitudes ``(bins, frames)`` -> float32 linear magnitudes
    ``(bins + 1, frames)`` with a zero top bin (negative outputs clipped to 0)."""
    log_mag = np.asarray(log_mag)
    if log_mag.ndim != 2:
        raise ValueError(f"from_model needs one (bins, frames) spectrogram, got shape {log_mag.shape}")
    magnitude = np.maximum(np.expm1(log_mag.astype(np.float32)), 0)
    return np.pad(magnitude, ((0, 1), (0, 0)))


def invert(
    magnitude: np.ndarray, mixture_stft: np.ndarray, length: int, griffin_lim_iters: int = 0,
    n_fft: int = 512, hop: int = 256,
) -> np.ndarray:
    """Audio float32 ``(length,)`` from magnitudes ``(bins_all, frames)`` with the phase of
    the mixture's STFT ``(bins_all, frames)``.

    ``griffin_lim_iters > 0``: that many Griffin-Lim steps (STFT of the audio, keep its
    phase, impose the magnitudes) starting from the mixture's phase. The official code's
    ``phaseIterations=10`` counts the mixture-phase pass too: ``griffin_lim_iters=9`` here.
    """
    if magnitude.shape != mixture_stft.shape or magnitude.ndim != 2:
        raise ValueError(f"magnitude and mixture STFT must both be (bins, frames) of one shape, got "
                         f"{magnitude.shape} and {mixture_stft.shape}; use from_model for the model's output")
    if griffin_lim_iters < 0:
        raise ValueError(f"griffin_lim_iters={griffin_lim_iters} must be ≥ 0")
    window = torch.hann_window(n_fft)
    mag = torch.from_numpy(np.asarray(magnitude, dtype=np.float32))
    phase = torch.from_numpy(np.angle(mixture_stft).astype(np.float32))
    audio = torch.istft(torch.polar(mag, phase), n_fft, hop, window=window, center=True, length=length)
    for _ in range(griffin_lim_iters):
        rebuilt = torch.stft(audio, n_fft, hop, window=window, center=True, return_complex=True)
        audio = torch.istft(torch.polar(mag, rebuilt.angle()), n_fft, hop, window=window, center=True,
                            length=length)
    return audio.numpy()


def resample(audio: np.ndarray, from_rate: int, to_rate: int, length: int | None = None) -> np.ndarray:
    """Audio ``(samples,)`` or ``(samples, channels)`` from ``from_rate`` to ``to_rate`` Hz
    (librosa, soxr_hq), float32; ``length``: zero-padded or cut to that many samples."""
    import librosa  # heavy: imported where used

    out = librosa.resample(np.asarray(audio, dtype=np.float32), orig_sr=from_rate, target_sr=to_rate, axis=0)
    if length is not None:
        out = librosa.util.fix_length(out, size=length, axis=0)
    return out.astype(np.float32)


# ---- scoring --------------------------------------------------------------------------
def score_song(
    references: np.ndarray, estimates: np.ndarray, rate: int = 44_100, window_s: float = 1.0
) -> dict[str, np.ndarray]:
    """BSS Eval v4 (museval) of one song, per window: ``{"sdr", "sir", "sar", "isr"}`` ->
    float64 ``(n_src, n_windows)`` in dB.

    ``references``, ``estimates``: ``(n_src, samples, channels)``, the same shape (duplicate
    a mono estimate to the reference's channels, as the official code). Windows of
    ``window_s`` seconds without overlap (a song shorter than one window: one window).
    Use ``window_s=15`` for :func:`aggregate_pooled`, ``window_s=1`` for
    :func:`aggregate_sisec`. Windows where any source is silent stay NaN.
    """
    import museval  # heavy: imported where used

    references, estimates = np.asarray(references), np.asarray(estimates)
    if references.ndim != 3 or references.shape != estimates.shape:
        raise ValueError(f"references and estimates must be (n_src, samples, channels) of one shape, got "
                         f"{references.shape} and {estimates.shape}; add a channel axis with x[..., None] "
                         "and match lengths with resample(..., length=...)")
    if window_s <= 0 or rate <= 0:
        raise ValueError(f"window_s and rate must be positive, got window_s={window_s}, rate={rate}")
    win = int(round(window_s * rate))
    sdr, isr, sir, sar = museval.evaluate(references, estimates, win=win, hop=win)  # museval's order
    return {"sdr": sdr, "sir": sir, "sar": sar, "isr": isr}


# ---- aggregation ----------------------------------------------------------------------
def _values(per_song: Sequence[dict[str, np.ndarray]], measure: str, row: int, n_src: int) -> list[np.ndarray]:
    """One source's windows ``(n_windows,)`` of one measure, per song."""
    out = []
    for i, song in enumerate(per_song):
        if measure not in song:
            raise ValueError(f"song {i} has no {measure!r} scores (keys {sorted(song)}): pass measures=... "
                             "naming only the measures every song has")
        scores = np.asarray(song[measure], dtype=np.float64)
        if scores.ndim != 2 or scores.shape[0] != n_src:
            raise ValueError(f"song {i}: {measure} scores must be (n_src={n_src}, n_windows) in the order of "
                             f"`sources`, got shape {scores.shape}")
        out.append(scores[row])
    return out


def _all_nan(measure: str, source: str) -> None:
    warnings.warn(f"{measure} of {source!r}: every window is NaN (the source, or another one, is silent "
                  "throughout); its aggregate is NaN", RuntimeWarning, stacklevel=3)


def _std(values: np.ndarray) -> float:
    # An infinite score (a perfect window) has no finite spread; np.std would give NaN.
    return float(np.std(values)) if np.isfinite(values).all() else float("inf")


def aggregate_pooled(
    per_song: Sequence[dict[str, np.ndarray]], sources: Sequence[str], measures: Sequence[str] = MEASURES
) -> dict[str, float]:
    """The official FactorGAN aggregation (15-s windows): per source and measure, every
    non-NaN window of every song pooled; ``<measure>_<source>_{median,mad,mean,std}``
    (MAD: median of ``|x − median|``, unscaled; std: population, as ``np.nanstd``).

    ``per_song``: :func:`score_song` results, rows in the order of ``sources``.
    """
    out: dict[str, float] = {}
    for measure in measures:
        for row, source in enumerate(sources):
            pooled = np.concatenate(_values(per_song, measure, row, len(sources)))
            pooled = pooled[~np.isnan(pooled)]
            key = f"{measure}_{source}"
            if pooled.size == 0:
                _all_nan(measure, source)
                out.update({f"{key}_{s}": float("nan") for s in ("median", "mad", "mean", "std")})
                continue
            median = float(np.median(pooled))
            out[f"{key}_median"] = median
            with np.errstate(invalid="ignore"):  # inf − inf: an infinite median's equals deviate by 0
                deviation = np.where(pooled == median, 0.0, np.abs(pooled - median))
            out[f"{key}_mad"] = float(np.median(deviation))
            out[f"{key}_mean"] = float(np.mean(pooled))
            out[f"{key}_std"] = _std(pooled)
    return out


def aggregate_sisec(
    per_song: Sequence[dict[str, np.ndarray]], sources: Sequence[str], measures: Sequence[str] = MEASURES
) -> dict[str, float]:
    """SiSEC 2018 / open-unmix (1-s windows): per source and measure, the median over a
    song's non-NaN windows, then the median over songs (songs without one left out);
    ``<measure>_<source>_sisec``."""
    out: dict[str, float] = {}
    for measure in measures:
        for row, source in enumerate(sources):
            windows = [w[~np.isnan(w)] for w in _values(per_song, measure, row, len(sources))]
            medians = [float(np.median(w)) for w in windows if w.size]
            if not medians:
                _all_nan(measure, source)
            out[f"{measure}_{source}_sisec"] = float(np.median(medians)) if medians else float("nan")
    return out
