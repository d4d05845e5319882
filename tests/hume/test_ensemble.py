import numpy as np

from hume_ssl.hume.ensemble import align, contingency, vote


def test_alignment_is_exact_on_permuted_copies():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 5, size=300)
    perms = [rng.permutation(5) for _ in range(4)]
    labelings = np.stack([base] + [p[base] for p in perms])
    aligned, used = align(labelings, reference=0, k=5)
    assert (aligned == base).all()
    for p, u in zip(perms, used[1:]):
        assert (u[p] == np.arange(5)).all()  # the found permutation inverts the applied one


def test_vote_majority_agreement_and_deterministic_ties():
    aligned = np.array([[0, 1, 2, 0], [0, 1, 1, 1], [0, 2, 1, 1], [1, 2, 2, 0]])
    labels, agreement = vote(aligned, k=3, reference=0)
    # sample 0: 3 votes for 0; sample 1: 1 vs 2 tie (2-2) -> reference restart's label 1;
    # sample 2: 2 vs 1 tie -> reference's 2; sample 3: 0 vs 1 tie -> reference's 0
    assert labels.tolist() == [0, 1, 2, 0]
    assert np.allclose(agreement, [0.75, 0.5, 0.5, 0.5])
    labels2, _ = vote(aligned, k=3, reference=1)
    assert labels2.tolist() == [0, 1, 1, 1]


def test_contingency_counts():
    c = contingency(np.array([0, 0, 1]), np.array([1, 1, 0]), 2)
    assert c.tolist() == [[0, 2], [1, 0]]


def test_vote_in_row_blocks_equals_one_block():
    rng = np.random.default_rng(0)
    aligned = rng.integers(0, 7, size=(9, 1000))
    one = vote(aligned, 7, reference=2, block_rows=1000)
    for b in (1, 33, 256):
        got = vote(aligned, 7, reference=2, block_rows=b)
        assert np.array_equal(got[0], one[0]) and np.array_equal(got[1], one[1])
