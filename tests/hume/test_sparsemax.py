import torch

from hume_ssl.hume.sparsemax import sparsemax


def test_sparsemax_is_a_sparse_distribution():
    z = torch.randn(50, 7) * 3
    p = sparsemax(z)
    assert torch.allclose(p.sum(-1), torch.ones(50), atol=1e-5)
    assert (p >= 0).all()
    assert (p == 0).any()  # genuinely sparse at this scale


def test_sparsemax_known_values_and_dim():
    z = torch.tensor([[1.0, 0.5, -2.0], [0.0, 0.0, 0.0]])
    p = sparsemax(z)
    assert torch.allclose(p[0], torch.tensor([0.75, 0.25, 0.0]))
    assert torch.allclose(p[1], torch.full((3,), 1 / 3))
    assert torch.allclose(sparsemax(z.T, dim=0), p.T)


def test_sparsemax_gradient_flows():
    z = torch.tensor([[1.0, 0.8, -2.0]], requires_grad=True)
    (sparsemax(z)[0, 0]).backward()
    assert z.grad is not None and z.grad[0, 0] > 0 and z.grad[0, 2] == 0
