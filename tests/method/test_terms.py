"""Terms as data: signs, views and batch sources drive the combined logit and the
losses, so a factorisation tree with several dependency pairs needs no new code."""
from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from factorgan.method.discriminator import CombinedDiscriminator, RealBatch
from factorgan.method.factorisation import Factorisation
from factorgan.method.terms import GENERATED, PART, Batch, Term, combine, marginal, p_dependency, q_dependency
from factorgan.method.variants import factorgan_terms

V = 2  # values per part


class TableNet(nn.Module):
    """A logit per discrete input ``(N, k)`` with values in {0..V-1}."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.k = k
        self.table = nn.Parameter(torch.zeros(V**k))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], -1).long()
        return self.table[(x * V ** torch.arange(self.k - 1, -1, -1)).sum(1)]


def test_combine_weights_each_term_by_its_sign_and_skips_terms_outside_the_logit():
    terms = [marginal(0), p_dependency(), q_dependency(),
             Term("half", real=Batch(PART), fake=Batch(GENERATED), parts=(1,), sign=0.5),
             Term("critic_only", real=Batch(PART), fake=Batch(GENERATED), parts=(0,), combined=False)]
    logits = {t.name: torch.randn(4) for t in terms}
    expected = logits["marginal_0"] + logits["dep_p"] - logits["dep_q"] + 0.5 * logits["half"]
    torch.testing.assert_close(combine(logits, terms), expected)
    with pytest.raises(ValueError, match="at least one term"):
        combine(logits, terms[-1:])


def test_bad_terms_are_clear_errors():
    with pytest.raises(ValueError, match="batch source"):
        Batch("unpaired")
    with pytest.raises(ValueError, match="needs the parts it sees"):
        Term("m", real=Batch(PART), fake=Batch(GENERATED), parts=None)
    with pytest.raises(ValueError, match="one network per term"):
        CombinedDiscriminator([marginal(0)], {"marginal_1": nn.Identity()}, Factorisation(0, [1, 1]), (2,))


def test_the_papers_terms():
    assert [t.name for t in factorgan_terms(3)] == ["marginal_0", "marginal_1", "marginal_2", "dep_p", "dep_q"]
    assert [t.name for t in factorgan_terms(2, input_parts=1, dep_p=False)] == ["marginal_1", "dep_q"]
    assert [t.sign for t in factorgan_terms(2)] == [1.0, 1.0, 1.0, -1.0]


def tree_terms() -> list[Term]:
    """A two-level factorisation of x = (x0, x1, x2): the root splits x0 | (x1, x2) with
    its dependency pair, the node (x1, x2) splits again with a pair of its own."""
    return [
        marginal(0), marginal(1), marginal(2),
        p_dependency("dep_p", groups=((0,), (1, 2))), q_dependency("dep_q", groups=((0,), (1, 2))),
        p_dependency("dep_p_12", parts=(1, 2)), q_dependency("dep_q_12", parts=(1, 2)),
    ]


def tree_discriminator() -> CombinedDiscriminator:
    f = Factorisation(0, [1, 1, 1])
    terms = tree_terms()
    nets = {t.name: TableNet(1 if t.parts and len(t.parts) == 1 else (2 if t.parts else 3)) for t in terms}
    return CombinedDiscriminator(terms, nets, f, (3,), spectral_norm=False)


def random_joint(seed: int) -> torch.Tensor:
    w = torch.rand(V, V, V, generator=torch.Generator().manual_seed(seed)) + 0.1
    return w / w.sum()


def test_theorem1_for_a_two_level_tree():
    """Optimal sub-discriminator logits (log density ratios of each term's real and fake
    data) combine, with no change to the combiner, into the optimal joint logit."""
    p, q = random_joint(0), random_joint(1)
    d = tree_discriminator()
    with torch.no_grad():
        for i in range(3):
            d.nets[f"marginal_{i}"].table.copy_(torch.log(p.sum([j for j in range(3) if j != i]) /
                                                          q.sum([j for j in range(3) if j != i])))
        for name, r in (("p", p), ("q", q)):
            r0, r12, r1, r2 = r.sum((1, 2)), r.sum(0), r.sum((0, 2)), r.sum((0, 1))
            d.nets[f"dep_{name}"].table.copy_(torch.log(r / (r0.view(V, 1, 1) * r12)).flatten())
            d.nets[f"dep_{name}_12"].table.copy_(torch.log(r12 / torch.outer(r1, r2)).flatten())
    x = torch.tensor(list(itertools.product(range(V), repeat=3)), dtype=torch.float32)
    torch.testing.assert_close(torch.sigmoid(d(x)), p.flatten() / (p.flatten() + q.flatten()), rtol=1e-5, atol=1e-6)


def test_tree_batches_come_from_each_terms_sources_and_shuffles():
    d = tree_discriminator()
    n = 256
    idx = torch.arange(n, dtype=torch.float32)
    paired = torch.stack([idx, idx + 1000, idx + 2000], 1)  # each part carries its sample index
    fake = -paired - 1
    parts = {i: torch.full((n, 1), 10.0 * (i + 1)) for i in range(3)}
    b = d.batches(RealBatch(paired=paired, parts=parts), fake, torch.Generator().manual_seed(0))
    for i in range(3):
        torch.testing.assert_close(b[f"marginal_{i}"][0], parts[i])
        torch.testing.assert_close(b[f"marginal_{i}"][1], fake[:, i:i + 1])
    real_p, shuffled_p = b["dep_p"]
    torch.testing.assert_close(real_p, paired)
    torch.testing.assert_close(shuffled_p[:, 0], paired[:, 0])  # the root's first child stays
    torch.testing.assert_close(shuffled_p[:, 2] - shuffled_p[:, 1], torch.full((n,), 1000.0))  # (x1, x2) together
    assert (shuffled_p[:, 1] - 1000 != shuffled_p[:, 0]).float().mean() > 0.9  # ... apart from x0
    real_12, shuffled_12 = b["dep_p_12"]
    assert real_12.shape == (n, 2) and torch.equal(real_12, paired[:, 1:])
    assert (shuffled_12[:, 1] - 1000 != shuffled_12[:, 0]).float().mean() > 0.9
    torch.testing.assert_close(b["dep_q_12"][0], fake[:, 1:])
    assert d.needs_paired and d.marginal_parts == (0, 1, 2)


def test_selections_pick_terms_by_what_they_read_and_refuse_to_pick_nothing():
    """``dependency``: terms that see several parts; ``q_dependency``: of those, the ones
    whose real rows are generated (D_Q of every split); a selection of no term is an error."""
    from factorgan.method.terms import check_selection, joint, select_terms

    tree = tree_terms()
    assert select_terms("dependency", tree, 3, "penalty.terms") == ("dep_p", "dep_q", "dep_p_12", "dep_q_12")
    assert select_terms("q_dependency", tree, 3, "penalty.terms") == ("dep_q", "dep_q_12")
    assert select_terms("q_dependency", factorgan_terms(2), 2, "augment.terms") == ("dep_q",)
    assert select_terms("all", tree, 3, "x") == tuple(t.name for t in tree)
    with pytest.raises(ValueError, match=r"penalty.terms=q_dependency selects no term of this model .*\['joint'\]"):
        select_terms("q_dependency", [joint()], 2, "penalty.terms")
    with pytest.raises(ValueError, match="one of dependency, q_dependency, all"):
        check_selection("dep", "penalty.terms")
