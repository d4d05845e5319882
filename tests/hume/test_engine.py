import numpy as np
import pytest
import torch

from hume_ssl.hume.config import HumeConfig
from hume_ssl.hume.engine import orthonormal_rows, train_encoders
from hume_ssl.hume.ridge import RidgeInner
from hume_ssl.hume.rows import Rows


def _ten_clusters():
    """(phi1 (1000, 64), phi2 (1000, 96), y (1000,)): 10 Gaussian clusters in 16 dims seen
    through two random linear views (k = 10 at realistic shapes)."""
    rng = np.random.default_rng(0)
    y = np.arange(1000) % 10
    z = rng.normal(size=(10, 16))[y] + rng.normal(size=(1000, 16))
    phi1 = (z @ rng.normal(size=(16, 64))).astype(np.float32)
    phi2 = (z @ rng.normal(size=(16, 96))).astype(np.float32)
    return phi1, phi2, y


def _prep(phi1, phi2, cfg):
    cpu = torch.device("cpu")
    return Rows(phi1, True, cpu), RidgeInner.from_config(Rows(phi2, True, cpu), cfg)


def test_encoders_have_orthonormal_rows():
    w = orthonormal_rows(torch.randn(4, 20, 5))
    eye = torch.eye(5).expand(4, 5, 5)
    assert torch.allclose(w @ w.transpose(1, 2), eye, atol=1e-5)


def test_objective_falls_over_outer_steps(blobs):
    # from a random start (the k-means start is near the blobs' labelling already)
    phi1, phi2, _ = blobs
    cfg = HumeConfig(k=3, n_steps=60, random_state=0, encoder_init="gaussian")
    x1, inner = _prep(phi1, phi2, cfg)
    _, curve = train_encoders(x1, inner, np.arange(6), cfg)  # (steps, R)
    assert curve[-10:].mean() < curve[:10].mean() - 0.05


@pytest.mark.parametrize("encoder_init", ["gaussian", "kmeans"])
def test_results_do_not_depend_on_chunking_exactly(blobs, encoder_init):
    # 20 restarts span lanes 0, 1 and 2 (lane 2 half used); chunks that cut lanes anywhere must
    # give every restart bit-identical encoders and loss curves to one run of all 20
    phi1, phi2, _ = blobs
    cfg = HumeConfig(k=3, n_steps=20, n_subsets=2, subset_size=100, random_state=3,
                     encoder_init=encoder_init)
    x1, inner = _prep(phi1, phi2, cfg)
    w_all, c_all = train_encoders(x1, inner, np.arange(20), cfg)
    for chunks in ([np.arange(8), np.arange(8, 16), np.arange(16, 20)],
                   [np.arange(3, 13), np.array([17]), np.array([0, 1, 2, 19])]):
        for ids in chunks:
            w, c = train_encoders(x1, inner, ids, cfg)
            assert torch.equal(w, w_all[torch.from_numpy(ids)]), ids
            np.testing.assert_array_equal(c, c_all[:, ids])
    # and the restarts are not all alike (the test is not vacuous; on these three blobs
    # k-means can bring two restarts to the same centres in the same order)
    assert len({w.numpy().tobytes() for w in w_all}) > 1


def test_cholesky_q_factor_equals_householder_and_k_above_d1():
    from hume_ssl.hume.engine import CHOLESKY_K, q_factor

    v = torch.randn(3, 300, CHOLESKY_K + 20, generator=torch.Generator().manual_seed(0))
    q, r = torch.linalg.qr(v)
    q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))[:, None, :]
    assert torch.allclose(q_factor(v), q, atol=1e-5)  # the same Q, computed by Cholesky QR
    w = orthonormal_rows(torch.randn(2, 16, 40))  # k = 40 classes in d1 = 16 dims
    assert w.shape == (2, 40, 16)
    gram = w.transpose(1, 2) @ w  # orthonormal columns, scaled by sqrt(k / d1)
    assert torch.allclose(gram, (40 / 16) * torch.eye(16).expand(2, 16, 16), atol=1e-4)
    assert abs(float((w**2).sum(-1).mean()) - 1.0) < 1e-5  # rows of unit norm on average


def test_lanes_in_one_graph_equal_lanes_one_after_another_exactly(blobs):
    # 3 lanes in one batched graph vs one lane's graph at a time: every restart bit-identical
    phi1, phi2, _ = blobs
    for inner_solve in ("primal", "smoother"):
        cfg = HumeConfig(k=3, n_steps=6, n_subsets=2, subset_size=100, random_state=5,
                         inner_solve=inner_solve)
        x1, inner = _prep(phi1, phi2, cfg)
        assert inner.form == inner_solve
        w_b, c_b = train_encoders(x1, inner, np.arange(24), cfg, batch_lanes=True)
        w_s, c_s = train_encoders(x1, inner, np.arange(24), cfg, batch_lanes=False)
        assert torch.equal(w_b, w_s)
        np.testing.assert_array_equal(c_b, c_s)


def test_hand_written_adam_is_torch_adam():
    from hume_ssl.hume.engine import Adam

    g = torch.Generator().manual_seed(0)
    p1 = torch.randn(2, 8, 5, 3, generator=g, dtype=torch.float64).requires_grad_(True)
    p2 = p1.detach().clone().requires_grad_(True)
    ours, ref = Adam(p1, 0.03), torch.optim.Adam([p2], lr=0.03, foreach=False)
    for step in range(5):
        grad = torch.randn(p1.shape, generator=g, dtype=torch.float64)
        p1.grad, p2.grad = grad.clone(), grad.clone()
        if step == 3:
            ours.lr *= 0.1
            ref.param_groups[0]["lr"] *= 0.1
        ours.step(), ref.step()
    assert torch.allclose(p1, p2, rtol=0, atol=1e-15)


def test_training_never_constructs_torch_optim_adam(blobs, monkeypatch):
    # torch.optim.Adam's constructor imports torch._dynamo (2-10 s once per process, even with
    # foreach=False); the engine's own Adam does not
    def refuse(*a, **kw):
        raise AssertionError("torch.optim.Adam constructed on the HUME path")

    monkeypatch.setattr(torch.optim, "Adam", refuse)
    phi1, phi2, _ = blobs
    cfg = HumeConfig(k=3, n_steps=2)
    x1, inner = _prep(phi1, phi2, cfg)
    train_encoders(x1, inner, np.arange(8), cfg)


def test_a_one_lane_chunk_equals_its_lane_among_others_at_realistic_shapes():
    # k = 10, d1 = 64: a chunk of one lane (G = 1) once passed the QR backward a strided
    # gradient view where G > 1 passed a contiguous copy, and its encoders differed in the last
    # bits from the same lane computed beside others (subsets of part of the rows, and of all;
    # with today's torch on this CPU, dropping that copy no longer changes a bit).
    # The lanes-in-one-graph path (a GPU's) runs here on one CPU thread: with two, the CPU's
    # batched product rounds one lane (G = 1) differently from several when a subset covers
    # every row (encoders 2e-5 apart after one step at subset 600), one reason the CPU computes
    # lanes one by one, the path checked at the session's thread count. A GPU's batched
    # products are checked by recipes/gpu_check.py (hume-equal).
    phi1, phi2, _ = _ten_clusters()
    threads = torch.get_num_threads()
    for subset in (300, 600):  # 600: two subsets cover every row (the full-rows path)
        cfg = HumeConfig(k=10, n_steps=2, subset_size=subset, n_subsets=2)
        x1, inner = _prep(phi1, phi2, cfg)
        for batch_lanes in (True, False):
            torch.set_num_threads(1 if batch_lanes else threads)
            try:
                w_all, c_all = train_encoders(x1, inner, np.arange(24), cfg,
                                              batch_lanes=batch_lanes)
                w, c = train_encoders(x1, inner, np.arange(8, 16), cfg, batch_lanes=batch_lanes)
            finally:
                torch.set_num_threads(threads)
            assert torch.equal(w, w_all[8:16])
            np.testing.assert_array_equal(c, c_all[:, 8:16])


def test_kmeans_centres_find_the_clusters_and_draw_from_the_generator(blobs):
    from hume_ssl.core.metrics import cluster_acc
    from hume_ssl.hume.engine import kmeans_centres

    phi1, _, y = blobs
    pool = Rows(phi1, True, torch.device("cpu"), phi1.mean(0)).all()  # (180, 12) unit rows
    c = kmeans_centres(pool, 3, torch.Generator().manual_seed(0))  # (3, 12)
    assert c.shape == (3, 12) and torch.allclose(c.norm(dim=1), torch.ones(3), atol=1e-5)
    assert cluster_acc((pool @ c.T).argmax(1).numpy(), y) == 1.0  # one centre per blob
    again = kmeans_centres(pool, 3, torch.Generator().manual_seed(0))
    other = kmeans_centres(pool, 3, torch.Generator().manual_seed(1))
    assert torch.equal(c, again) and not torch.equal(c, other)


def test_kmeans_init_starts_every_restart_near_the_clusters_of_space_1():
    # encoder_init="kmeans": each restart starts from its own k-means of space 1, far closer
    # to the 10 clusters than the Gaussian draw (orthonormalising the centres, HUME's encoder
    # form, moves the partition a little)
    from hume_ssl.core.metrics import cluster_acc
    from hume_ssl.hume.engine import init_encoders, init_pool

    phi1, _, y = _ten_clusters()
    x1 = Rows(phi1, True, torch.device("cpu"), phi1.mean(0))
    pool = init_pool(x1, 10, random_state=0)
    assert pool.shape == (1000, 64)  # every row of a small set
    ids = np.arange(8)

    def start_acc(v):  # (R,) ACC of each restart's labels before any step
        return np.array([cluster_acc((x1.all() @ w.T).argmax(1).numpy(), y)
                         for w in orthonormal_rows(v)])

    km, gauss = init_encoders(ids, 64, 10, 0, pool), init_encoders(ids, 64, 10, 0)
    assert km.shape == gauss.shape == (8, 64, 10)
    assert start_acc(km).min() > 0.6 and start_acc(gauss).max() < 0.5
    assert len({v.numpy().tobytes() for v in km}) == 8  # one draw per restart
    # columns scaled like the Gaussian draw's, so Adam's lr moves both alike
    assert torch.allclose(km.norm(dim=1), torch.full((8, 10), 8.0), atol=1e-4)


@pytest.mark.parametrize("k", [8, 12])  # k past the rows' rank 6, below / above d1 = 10
def test_kmeans_init_of_rows_short_of_rank_is_completed_without_moving_the_start(k):
    # rows in a 6-dim subspace of a 10-dim space (constant or dead features): the k-means
    # centres span 6 dims, and the Q factor of a rank-short matrix has a NaN gradient. The start
    # is completed outside the rows' space, so each row's dot products are the centres' own.
    from hume_ssl.hume.engine import full_rank, init_encoders, kmeans_centres

    rng = np.random.default_rng(0)
    rows = rng.normal(size=(300, 6)) @ rng.normal(size=(6, 10))  # (300, 10), rank 6
    pool = torch.nn.functional.normalize(torch.from_numpy(rows).float(), dim=1)
    v = init_encoders(np.arange(2), 10, k, 0, pool)  # (2, 10, k)
    assert torch.linalg.matrix_rank(v[0].double(), rtol=1e-5) == min(k, 10)
    centres = kmeans_centres(pool, k, torch.Generator().manual_seed(5)).double()  # (k, 10)
    assert torch.linalg.matrix_rank(centres, rtol=1e-5) == 6  # float32 rounding aside
    done = full_rank(centres, torch.Generator().manual_seed(9))
    assert torch.allclose(pool.double() @ done.T, pool.double() @ centres.T, atol=1e-5)
    free = v.clone().requires_grad_(True)
    orthonormal_rows(free).pow(3).sum().backward()
    assert torch.isfinite(free.grad).all()


def test_kmeans_init_of_full_rank_rows_is_the_centres_themselves():
    # the completion touches only rank-short centres: every other k-means start is unchanged
    from hume_ssl.hume.engine import (
        full_rank,
        init_encoders,
        init_pool,
        kmeans_centres,
        restart_seed,
    )

    phi1, _, _ = _ten_clusters()
    pool = init_pool(Rows(phi1, True, torch.device("cpu"), phi1.mean(0)), 10, random_state=0)
    v = init_encoders(np.array([3]), 64, 10, 0, pool)[0]  # (64, 10)
    g = torch.Generator().manual_seed(restart_seed(0, 3))
    centres = kmeans_centres(pool, 10, g)  # (10, 64)
    assert torch.equal(v, (centres.T.double() * 8.0).float())
    twin = centres.double()
    assert full_rank(twin, torch.Generator()) is twin


def test_hume_fits_more_classes_than_the_rank_of_space_1_from_the_kmeans_start():
    # digits-like: d1 = 12 with 3 constant columns, k = 15 > d1 (was: sparsemax's index error
    # after a NaN first step)
    from hume_ssl.hume.estimator import Hume

    rng = np.random.default_rng(1)
    y = np.arange(600) % 15
    z = rng.normal(size=(15, 9))[y] * 3 + rng.normal(size=(600, 9))
    phi1 = np.hstack([z, np.ones((600, 3))]).astype(np.float32)  # (600, 12), rank 9 centred
    phi2 = (z @ rng.normal(size=(9, 20))).astype(np.float32)
    m = Hume(k=15, n_restarts=8, n_steps=5, encoder_init="kmeans").fit(phi1, phi2)
    assert np.isfinite(m.encoders_).all() and np.isfinite(m.scores_).all()
    assert m.labels_.min() >= 0 and m.labels_.max() < 15
