"""Sample grids and audio for spectrogram data (source separation).

One row per fixed test example: the input (mixture), every generated part, every true
part, as colour images (magma: dark quiet, bright loud, on one decibel scale for the
whole grid) with a log-frequency axis in Hz on the left, low frequencies at the bottom,
and each frame widened so a snippet is at least :data:`MIN_WIDTH` pixels: harmonics show
as stacked horizontal lines.

The examples also go to TensorBoard as audio: for each example a clip of a few seconds
(consecutive snippets of its song around the grid's one), in the order mixture, then each
part true and generated, all clips of an example at one gain so their loudness compares.
Clips are turned back into sound by Griffin-Lim from their magnitudes alone (a preview:
the evaluation uses the mixture's phase).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.tensorboard import SummaryWriter

from factorgan.data.interface import TEST, TrainingData
from factorgan.samples.generate import eval_mode
from factorgan.samples.grids import SampleWriter
from factorgan.samples.images import _font, colourise, image_grid

ROWS_PER_OCTAVE = 24   # log-frequency rows per octave of the grid's spectrograms
MIN_WIDTH = 160        # a snippet's tiles are at least this wide (each frame repeated)
DYNAMIC_RANGE_DB = 80  # the colour scale: the loudest (99.9 % quantile) to this far below
TICKS_HZ = (50, 100, 200, 500, 1000, 2000, 5000, 10000)
CLIP_SECONDS = 4.0     # TensorBoard audio: about this long per example (its song allowing)
PEAK = 0.9             # the loudest clip of an example peaks here


def log_frequency_rows(bins: int, rows_per_octave: int = ROWS_PER_OCTAVE) -> Tensor:
    """Fractional bin positions ``(rows,)`` of a log-frequency axis from bin 1 (the lowest
    above 0 Hz) to the top bin, ``rows_per_octave`` rows an octave, lowest first (the
    same for any bin width in Hz)."""
    octaves = math.log2(bins - 1)
    rows = max(2, int(round(octaves * rows_per_octave)) + 1)
    return torch.logspace(0.0, octaves, rows, base=2.0)


def resample_rows(x: Tensor, positions: Tensor) -> Tensor:
    """``x`` ``(bins, frames)`` at fractional bin ``positions`` ``(rows,)`` (linear
    interpolation between neighbouring bins): ``(rows, frames)``."""
    lo = positions.floor().long().clamp(0, x.shape[0] - 1)
    hi = (lo + 1).clamp(max=x.shape[0] - 1)
    w = (positions - lo.float()).clamp(0, 1).unsqueeze(1)
    return x[lo] * (1 - w) + x[hi] * w


def decibels(log_mag: Tensor) -> Tensor:
    """``log1p`` magnitudes -> dB (20·log10 of the magnitude, floored at -100 dB)."""
    return 20 * torch.log10(torch.expm1(log_mag.float()).clamp_min(1e-5))


def spectrogram_image(log_mag: Tensor, top_db: float, positions: Tensor | None = None, widen: int = 1,
                      range_db: float = DYNAMIC_RANGE_DB, cmap: str = "magma") -> Tensor:
    """``log1p`` magnitudes ``(bins, frames)`` -> an RGB image ``(3, rows, frames·widen)``:
    the bins at ``positions`` (:func:`log_frequency_rows`; None: every bin), low
    frequencies at the bottom, ``top_db`` … ``top_db - range_db`` through ``cmap``."""
    db = decibels(log_mag)
    if positions is not None:
        db = resample_rows(db, positions)
    level = ((db - (top_db - range_db)) / range_db).clamp(0, 1).flip(0)
    if widen > 1:
        level = level.repeat_interleave(widen, dim=1)
    return colourise(level, cmap)


def frequency_axis(height: int, tops: list[int], rows: int, positions: Tensor, bin_hz: float,
                   ticks: tuple[float, ...] = TICKS_HZ, width: int = 36) -> Tensor:
    """A white strip ``(3, height, width)`` to the left of a grid: Hz ticks (``100``,
    ``1k``, …) beside each row of tiles of ``rows`` pixels starting at ``tops``, and the
    unit, ``Hz``, above the first."""
    from PIL import Image, ImageDraw

    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    font = _font(10)
    hz = positions.double() * bin_hz  # each pixel row's frequency, lowest first
    for top in tops:
        for f in ticks:
            if not hz[0] <= f <= hz[-1]:
                continue
            row = int(torch.searchsorted(hz, torch.tensor(f, dtype=hz.dtype)))
            y = top + rows - 1 - min(row, rows - 1)
            label = f"{f / 1000:g}k" if f >= 1000 else f"{f:g}"
            draw.line([(width - 5, y), (width - 1, y)], fill=0)
            tw = draw.textlength(label, font=font)
            draw.text((width - 7 - tw, y - 6), label, fill=0, font=font)
    draw.text((width - 7 - draw.textlength("Hz", font=font), max(0, tops[0] - 14) if tops else 0), "Hz",
              fill=0, font=font)
    strip = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0)
    return strip.expand(3, -1, -1).clone()


def _along_time(snippets: Tensor) -> Tensor:
    """Consecutive snippets ``(count, C, bins, frames)`` as one ``(C, bins, count·frames)``."""
    return snippets.permute(1, 2, 0, 3).flatten(2)


def griffin_lim(log_mag: Tensor, n_fft: int = 512, hop: int = 256, iters: int = 32) -> Tensor:
    """Audio ``(samples,)`` from ``log1p`` magnitudes ``(n_fft // 2, frames)`` (the top bin
    dropped) by Griffin-Lim from zero phase."""
    mag = torch.nn.functional.pad(torch.expm1(log_mag.float()).clamp_min(0), (0, 0, 0, 1))
    window = torch.hann_window(n_fft)
    spec = mag.to(torch.complex64)
    for _ in range(iters):
        audio = torch.istft(spec, n_fft, hop, window=window, center=True)
        phase = torch.stft(audio, n_fft, hop, window=window, center=True, return_complex=True)
        spec = mag * torch.exp(1j * phase.angle()[:, : mag.shape[1]])
    return torch.istft(spec, n_fft, hop, window=window, center=True)


class SpectrogramSampleWriter(SampleWriter):
    """Conditional spectrogram data: input | generated parts | true parts per row, and
    each example as audio in TensorBoard (tags ``audio/example<i>/<k>_<part>``: ``1_mixture``,
    then ``2_<part>_true``, ``3_<part>_generated`` for each part, one gain per example).

    Args:
        part_names: names of the parts in the sample's order (for the headers and tags).
        sample_rate / n_fft / hop: the spectrograms' settings (frequency axis, audio).
        audio_examples: examples heard in TensorBoard (the first of the grid's; 0: no audio).
        audio_seconds: about how long each example's clip is (its song allowing).
    """

    def __init__(
        self, run_dir: Path, generator: nn.Module, data: TrainingData, seed: int, n: int = 4,
        part_names: tuple[str, ...] = ("mixture", "accompaniment", "vocals"),
        sample_rate: int = 22_050, n_fft: int = 512, hop: int = 256,
        audio_examples: int = 2, audio_seconds: float = CLIP_SECONDS,
    ) -> None:
        if not data.input_parts:
            raise ValueError("SpectrogramSampleWriter needs a conditional dataset (input_parts ≥ 1)")
        super().__init__(run_dir, generator, data, seed, n)
        _, self.truth = data.split_inputs(data.examples(len(self.z)))
        self.part_names, self.sample_rate, self.n_fft, self.hop = tuple(part_names), sample_rate, n_fft, hop
        self.audio_examples, self.audio_seconds = int(audio_examples), float(audio_seconds)

    # ---- the grid ----------------------------------------------------------------------
    def grid(self) -> Tensor:
        cond, out = self.data.split_inputs(self.generate())
        rows = torch.cat([cond, out, self.truth.float()], dim=1)  # (n, C_in + 2·C_out, bins, frames)
        bins, frames = rows.shape[-2:]
        positions = log_frequency_rows(bins)
        db = resample_rows(decibels(self.truth.float().flatten(0, 1)[:64].movedim(1, 0).flatten(1)), positions)
        top = float(torch.quantile(db.flatten()[:1_000_000], 0.999))  # as shown (log rows): a few peaks saturate
        widen = max(1, math.ceil(MIN_WIDTH / frames))
        tiles = torch.stack([spectrogram_image(x, top, positions, widen) for row in rows for x in row])
        grid = image_grid(tiles, nrow=rows.shape[1], padding=2, pad_value=1.0, scale=1,
                          labels=self.column_labels(cond.shape[1], out.shape[1]))
        h = tiles.shape[-2]
        header = grid.shape[1] - (len(rows) * (h + 2) + 2)
        tops = [header + 2 + r * (h + 2) for r in range(len(rows))]
        axis = frequency_axis(grid.shape[1], tops, h, positions, self.sample_rate / self.n_fft)
        return torch.cat([axis, grid], dim=2)

    def column_labels(self, inputs: int, outputs: int) -> list[str]:
        """Headers of the grid's columns: the inputs' names, then each part generated, then true."""
        names = self.names(inputs, outputs)
        parts = names[inputs:]
        return [*names[:inputs], *(f"{n} generated" for n in parts), *(f"{n} true" for n in parts)]

    def names(self, inputs: int, outputs: int) -> list[str]:
        """The parts' names (numbered inputs and parts when ``part_names`` does not fit the data)."""
        names = list(self.part_names)
        if len(names) != inputs + outputs:
            names = [f"input {i + 1}" for i in range(inputs)] + [f"part {i + 1}" for i in range(outputs)]
        return names

    # ---- the audio -----------------------------------------------------------------------
    def clip_spectrograms(self, i: int) -> tuple[Tensor, Tensor, Tensor]:
        """Example ``i``'s clip: (input, generated, true) spectrograms ``(C, bins, frames)``
        of consecutive snippets of its song (about :attr:`audio_seconds`; one snippet on
        data that cannot tell which snippets follow each other)."""
        frames = self.data.sample_shape[-1]
        count = max(1, round(self.audio_seconds * self.sample_rate / (self.hop * frames)))
        if hasattr(self.data, "clip_rows") and hasattr(self.data, "example_rows"):
            row = int(self.data.example_rows(len(self.z))[i])
            x = self.data.samples(TEST, self.data.clip_rows(row, count)).cpu()
        else:
            x = self.data.examples(len(self.z))[i : i + 1]
        cond, truth = self.data.split_inputs(x.float())
        device = next(self.G.parameters()).device
        with torch.no_grad(), eval_mode(self.G):
            z = self.z[i : i + 1].expand(len(cond), -1).to(device)
            out = self.G(z, cond.to(device)).float().cpu()
        return _along_time(cond), _along_time(out), _along_time(truth)

    def clips(self, i: int) -> dict[str, Tensor]:
        """Example ``i``'s audio clips in listening order, named ``<k>_<what>``: the inputs,
        then each part true and generated; all at one gain (the loudest peaks at
        :data:`PEAK`), so their loudness compares."""
        cond, out, truth = self.clip_spectrograms(i)
        names = self.names(len(cond), len(out))
        specs = {name: cond[j] for j, name in enumerate(names[: len(cond)])}
        for j, name in enumerate(names[len(cond):]):
            specs[f"{name}_true"] = truth[j]
            specs[f"{name}_generated"] = out[j]
        audio = {name: griffin_lim(s, self.n_fft, self.hop) for name, s in specs.items()}
        gain = PEAK / max([1e-6, *(float(a.abs().max()) for a in audio.values())])
        return {f"{k + 1}_{name.replace(' ', '_')}": a * gain for k, (name, a) in enumerate(audio.items())}

    def write(self, writer: SummaryWriter | None, step: int) -> Path:
        latest = super().write(writer, step)
        if writer is not None:
            for i in range(min(self.audio_examples, len(self.z))):
                for name, audio in self.clips(i).items():
                    writer.add_audio(f"audio/example{i + 1}/{name}", audio.clamp(-1, 1).unsqueeze(0), step,
                                     sample_rate=self.sample_rate)
        return latest
