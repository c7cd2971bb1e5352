"""Energy distance: zero-ish for one distribution, growing with the difference."""
from __future__ import annotations

import pytest
import torch

from factorgan.metrics.energy import energy_distance


def test_energy_distance_separates_distributions_and_is_symmetric():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(400, 3, generator=g), torch.randn(500, 3, generator=g)
    same = energy_distance(x, y)
    shifted = energy_distance(x, y + 0.5)
    far = energy_distance(x, y + 2.0)
    assert 0 <= same < 0.05 < shifted < far
    assert energy_distance(y + 0.5, x) == pytest.approx(shifted, rel=1e-5)
    # Against a direct computation on a small case.
    a, b = torch.tensor([[0.0], [1.0]]), torch.tensor([[3.0], [5.0]])
    direct = 2 * torch.tensor([3.0, 5, 2, 4]).mean() - torch.tensor([0.0, 1, 1, 0]).mean() - torch.tensor([0.0, 2, 2, 0]).mean()
    assert energy_distance(a, b) == pytest.approx(float(direct))


def test_energy_distance_sees_dependence_not_only_marginals():
    g = torch.Generator().manual_seed(1)
    u = torch.randn(600, 1, generator=g)
    joint = torch.cat([u, u], dim=1)  # perfectly dependent parts
    independent = torch.cat([u, u[torch.randperm(600, generator=g)]], dim=1)  # same marginals
    other = torch.cat([torch.randn(600, 1, generator=g)] * 2, dim=1)
    assert energy_distance(independent, joint) > 5 * energy_distance(other, joint)
    with pytest.raises(ValueError, match="at least 2"):
        energy_distance(joint[:1], joint)
