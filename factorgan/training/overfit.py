"""Does a sub-discriminator memorise its training data? Each term that reads real data
scored on training rows and on held-out rows (the test split's complete samples, never
trained on), logged as ``overfit/<term>/...`` at every evaluation during training
(docs/experiments/pairing.md).

For a term, *accuracy* is the fraction of its real rows with logit > 0 and fake rows with
logit < 0, and the *gap* the mean logit on real rows minus that on fake rows; its fake
rows are what it trains against (D_P: the same pairs with parts shuffled; the GAN's
joint discriminator and the marginals: generated samples, the same ones for both
splits). A gap on training rows far above the held-out one is memorisation:
``gap_drop = gap_train − gap_heldout``.
"""
from __future__ import annotations

import torch
from torch import Tensor

from factorgan.data.interface import TEST, TrainingData
from factorgan.method.discriminator import CombinedDiscriminator, RealBatch, real_fake
from factorgan.method.losses import discriminator_accuracy
from factorgan.method.terms import GENERATED
from factorgan.samples.generate import eval_mode, generate
from factorgan.training.steps import real_batch


def heldout_batch(D: CombinedDiscriminator, data: TrainingData, x: Tensor) -> RealBatch:
    """What ``D``'s terms read, cut from complete held-out samples ``x`` ``(N, *sample_shape)``:
    the samples as pairs, their parts as isolated observations, their groups of parts."""
    parts = data.factorisation.split(x)
    observed = {}
    for group in D.observed_groups:
        keep = [p if i in group else torch.zeros_like(p) for i, p in enumerate(parts)]
        observed[group] = data.factorisation.join(keep)
    return RealBatch(paired=x, parts={i: parts[i] for i in D.marginal_parts}, observed=observed)


@torch.no_grad()
def probe(D: CombinedDiscriminator, G: torch.nn.Module, data: TrainingData, n: int = 500, seed: int = 0,
          inputs_paired_only: bool = False) -> dict[str, float]:
    """``overfit/<term>/{acc,gap}_{train,heldout}`` and ``gap_drop`` for every term whose
    real rows are real data, on ``n`` training and ``n`` held-out samples (fewer if the
    test split is smaller; nothing without a test split).

    Runs the networks in eval mode (no spectral-norm update, no augmentation) with its
    own seeded random stream: training goes on exactly as without it. One host sync.
    """
    m = min(n, data.num_samples(TEST))
    if m == 0:
        return {}
    device = data.device
    rng = torch.Generator(device).manual_seed(int(seed))
    with eval_mode(D, G):
        fake = generate(G, data, m, rng, inputs_paired_only)
        splits = {
            "train": real_batch(D, data, m, rng),
            "heldout": heldout_batch(D, data, data.samples(TEST, torch.arange(m, device=device))),
        }
        values: dict[str, Tensor] = {}
        for split, real in splits.items():
            shuffles = torch.Generator(device).manual_seed(int(seed) + 1)  # the same shuffles for both
            batches = D.batches(real, fake, shuffles)
            logits = D.logits({name: real_fake(r, f) for name, (r, f) in batches.items()})
            for term in D.term_list:
                if term.real.source == GENERATED:
                    continue  # D_Q: its real rows are generated, nothing to memorise
                k = batches[term.name][0].shape[0]
                logit = logits[term.name].float()
                values[f"overfit/{term.name}/acc_{split}"] = discriminator_accuracy(logit[:k], logit[k:])
                values[f"overfit/{term.name}/gap_{split}"] = logit[:k].mean() - logit[k:].mean()
    for term in D.term_list:
        if f"overfit/{term.name}/gap_train" in values:
            values[f"overfit/{term.name}/gap_drop"] = (values[f"overfit/{term.name}/gap_train"]
                                                       - values[f"overfit/{term.name}/gap_heldout"])
    names = list(values)
    host = torch.stack([values[k] for k in names]).cpu().tolist()  # the one host sync
    return dict(zip(names, host))
