import torch

from hume_ssl.hume.sparsemax import sparsemax, tempered


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


def test_a_tiny_tau_gives_the_one_hot_limit_and_any_other_the_same_bits():
    """Before: at logits past ~1e7 (HumeConfig tau=1e-8, inside its range (0, inf)) float32's
    cumsum - 1 rounded to the logit itself, no entry passed the support test, and the gather
    at index -1 failed: RuntimeError inside the fit."""
    cos = torch.tensor([[0.9, 0.3, -0.5], [0.2, 0.7, 0.1]])
    assert torch.equal(tempered(cos, 1e-8), torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
    z = torch.rand(40, 10) * 2 - 1
    assert torch.equal(tempered(z, 0.1), sparsemax(z / 0.1))  # the shipped tau: as before


def test_unbounded_logits_are_shifted_at_any_tau():
    """Before: with normalize_phi1=False the logits are not cosines, and phi1 x 1000 at
    tau=1e-5 still failed in the gather: the shift keyed on tau alone."""
    z = torch.tensor([[0.9, 0.3, -0.5]]) * 1e3
    assert torch.equal(tempered(z, 1e-5, bounded=False), torch.tensor([[1.0, 0.0, 0.0]]))
