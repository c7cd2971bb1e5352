import torch
import torch.nn.functional as F
from torch import nn

from factorgan.nets.spectral_norm import SNConv2d, SNLinear, apply_spectral_norm


def _top_singular_value(w: torch.Tensor) -> torch.Tensor:
    return torch.linalg.matrix_norm(w.flatten(1), ord=2)


def test_sigma_estimates_the_spectral_norm():
    torch.manual_seed(0)
    for layer in (SNLinear(30, 20), SNConv2d(3, 8, 4, 2, 1)):
        for _ in range(50):  # more power iterations: the estimate converges
            layer.sigma()
        torch.testing.assert_close(layer.sigma(), _top_singular_value(layer.weight), rtol=1e-3, atol=0)


def test_linear_output_equals_normalised_weight_layer():
    torch.manual_seed(0)
    layer = SNLinear(16, 8).eval()
    x = torch.randn(5, 16)
    sigma = torch.dot(layer.sn_u, layer.weight @ layer.sn_v)
    torch.testing.assert_close(layer(x), F.linear(x, layer.weight / sigma, layer.bias))


def test_conv_output_equals_normalised_weight_conv():
    torch.manual_seed(0)
    layer = SNConv2d(3, 4, 3, padding=1).eval()
    x = torch.randn(2, 3, 8, 8)
    sigma = torch.dot(layer.sn_u, layer.weight.flatten(1) @ layer.sn_v)
    torch.testing.assert_close(layer(x), F.conv2d(x, layer.weight / sigma, layer.bias, padding=1))


def test_gradient_flows_through_sigma_like_torch_spectral_norm():
    torch.manual_seed(0)
    layer = SNLinear(12, 6).eval()
    x = torch.randn(4, 12)
    layer(x).pow(2).sum().backward()
    w = layer.weight.detach().clone().requires_grad_(True)
    u, v = layer.sn_u, layer.sn_v
    F.linear(x, w / torch.dot(u, w @ v), layer.bias.detach()).pow(2).sum().backward()
    torch.testing.assert_close(layer.weight.grad, w.grad)


def test_training_mode_runs_one_power_iteration_per_forward():
    torch.manual_seed(0)
    layer = SNLinear(10, 10)
    u0 = layer.sn_u.clone()
    layer.eval()(torch.randn(2, 10))
    torch.testing.assert_close(layer.sn_u, u0, rtol=0, atol=0)  # eval: frozen
    with torch.no_grad():
        layer.weight.add_(torch.randn_like(layer.weight))  # a changed weight moves u
    layer.train()(torch.randn(2, 10))
    assert not torch.allclose(layer.sn_u, u0)


def test_apply_spectral_norm_replaces_every_layer_and_keeps_weights():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Sequential(nn.Linear(4 * 6 * 6, 3)))
    w_conv, w_lin = net[0].weight.detach().clone(), net[3][0].weight.detach().clone()
    net = apply_spectral_norm(net)
    assert isinstance(net[0], SNConv2d) and isinstance(net[3][0], SNLinear)
    torch.testing.assert_close(net[0].weight, w_conv, rtol=0, atol=0)
    torch.testing.assert_close(net[3][0].weight, w_lin, rtol=0, atol=0)
    assert isinstance(apply_spectral_norm(nn.Linear(2, 2)), SNLinear)
    # Buffers travel in the state dict, so a resumed run continues the same iteration.
    assert {"0.sn_u", "0.sn_v", "3.0.sn_u", "3.0.sn_v"} <= set(net.state_dict())


def test_linear_function_gradients_pass_gradcheck():
    from factorgan.nets.spectral_norm import _SNLinearFn

    torch.manual_seed(0)
    x = torch.randn(5, 7, dtype=torch.double, requires_grad=True)
    w = torch.randn(4, 7, dtype=torch.double, requires_grad=True)
    b = torch.randn(4, dtype=torch.double, requires_grad=True)
    u = torch.nn.functional.normalize(torch.randn(4, dtype=torch.double), dim=0)
    v = torch.nn.functional.normalize(torch.randn(7, dtype=torch.double), dim=0)

    def fn(x, w, b):
        sigma = torch.dot(u, w @ v).detach()  # σ's value; its gradient is the Function's job
        return _SNLinearFn.apply(x, w, b, sigma, u, v)

    def reference(x, w, b):
        return torch.nn.functional.linear(x, w / torch.dot(u, w @ v), b)

    torch.testing.assert_close(fn(x, w, b), reference(x, w, b))
    torch.autograd.gradcheck(lambda x, w, b: reference(x, w, b), (x, w, b))
    gy = torch.randn(5, 4, dtype=torch.double)
    got = torch.autograd.grad(fn(x, w, b), (x, w, b), gy)
    want = torch.autograd.grad(reference(x, w, b), (x, w, b), gy)
    for g, r in zip(got, want):
        torch.testing.assert_close(g, r)


def test_training_forward_and_gradient_match_torch_spectral_norm():
    """Same u, v start: training-mode forwards and the weight gradient equal torch's
    ``spectral_norm`` (Miyato et al.'s order: v from u, then u from v)."""
    torch.manual_seed(0)
    ours = SNLinear(9, 5)
    ref = torch.nn.utils.spectral_norm(nn.Linear(9, 5), n_power_iterations=1)
    with torch.no_grad():
        ref.weight_orig.copy_(ours.weight)
        ref.bias.copy_(ours.bias)
        ref.weight_u.copy_(ours.sn_u)
        ref.weight_v.copy_(ours.sn_v)
    x = torch.randn(3, 9)
    for _ in range(2):
        torch.testing.assert_close(ours(x), ref(x), rtol=1e-5, atol=1e-6)
    ours(x).pow(2).sum().backward()
    ref(x).pow(2).sum().backward()
    torch.testing.assert_close(ours.weight.grad, ref.weight_orig.grad, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(ours.sn_u, ref.weight_u, rtol=1e-5, atol=1e-6)
