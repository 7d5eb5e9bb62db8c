"""Module 4 of the course, special applications: face verification and recognition, triplet loss, the verification head, neural style transfer's costs, what units learn (M4.01-M4.12)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
import minigrad.functional as F
from minigrad import nn, optim

from apps.faces import VerificationHead, distance, encode, identify, verify
from apps.style import content_cost, gram_matrix, layer_style_cost, style_cost, total_cost
from apps.visualize import top_patches
from course_helpers import PROPERTY, t

spec = pytest.mark.spec

shapes = st.tuples(st.integers(1, 5), st.integers(1, 5), st.integers(1, 5))   # (n_C, n_H, n_W)


def encoder(dim=128):
    """A small Siamese encoder f: (N, 1, 8, 8) images -> (N, dim) encodings."""
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, dim))


# ----- M4.01 - M4.03: verification, recognition, one-shot, Siamese ------------------------------------------

@spec("M4.01")
@PROPERTY
@given(K=st.integers(1, 12), who=st.integers(0, 11), seed=st.integers(0, 999))
def test_verification_is_one_to_one_recognition_is_one_to_k(K, who, seed):
    rng = np.random.default_rng(seed)
    who = who % K
    database = {f"person{k}": rng.standard_normal(128) for k in range(K)}
    query = database[f"person{who}"] + 0.01 * rng.standard_normal(128)
    name, d = identify(query, database, threshold=1.0)
    assert name == f"person{who}", f"1:K recognition should find person{who} among {K}, found {name}"
    distances = [distance(query, e) for e in database.values()]
    assert d == pytest.approx(min(distances)), "recognition compares against all K and takes the smallest d"
    assert verify(query, database[f"person{who}"], threshold=1.0)[0], "1:1 verification against the right identity"
    if K > 1:
        other = f"person{(who + 1) % K}"
        assert not verify(query, database[other], threshold=1.0)[0], "1:1 verification against the wrong identity fails"
    stranger = 10 + rng.standard_normal(128)
    assert identify(stranger, database, threshold=1.0)[0] is None, "someone not in the database is not recognised"


@spec("M4.02")
@PROPERTY
@given(tau=st.floats(0.01, 10), seed=st.integers(0, 999), scale=st.floats(0.0, 3.0))
def test_one_shot_decision_is_d_below_tau(tau, seed, scale):
    rng = np.random.default_rng(seed)
    f1 = rng.standard_normal(16)
    f2 = f1 + scale * rng.standard_normal(16)
    same, d = verify(f1, f2, threshold=tau)
    assert d == pytest.approx(np.sum((f1 - f2) ** 2)), "d(img1, img2) = ||f(img1) - f(img2)||^2"
    assert same == (d <= tau), f"same person <=> d <= tau: d = {d:.3f}, tau = {tau:.3f}"


@spec("M4.03")
def test_siamese_network_shares_weights_and_gives_128_numbers():
    mg.manual_seed(0)
    f = encoder()
    rng = np.random.default_rng(0)
    x1 = rng.standard_normal((1, 1, 8, 8)).astype(np.float32)
    x2 = rng.standard_normal((1, 1, 8, 8)).astype(np.float32)
    e1, e2 = encode(f, x1), encode(f, x2)
    assert e1.shape == (1, 128), f"the encoding f(x) has 128 numbers, got {e1.shape}"
    both = encode(f, np.concatenate([x1, x2])).numpy()
    np.testing.assert_allclose(both, np.concatenate([e1.numpy(), e2.numpy()]), atol=1e-5,
                               err_msg="both images go through the same network")
    d = distance(e1, e2)[0]
    assert d == pytest.approx(float(((e1 - e2) ** 2).sum().item()), rel=1e-5), "d = ||f(x1) - f(x2)||^2"
    assert distance(encode(f, x1), encode(f, x1.copy()))[0] == 0, "d(x, x) = 0: shared weights"


@spec("M4.03")
def test_siamese_gradient_reaches_the_shared_weights_from_both_branches():
    """d = ||f(x1) - f(x2)||^2 with one f: the shared weights' gradient is the sum over both branches."""
    mg.manual_seed(1)
    f = encoder(8)
    rng = np.random.default_rng(1)
    x1 = mg.tensor(rng.standard_normal((1, 1, 8, 8)).astype(np.float32))
    x2 = mg.tensor(rng.standard_normal((1, 1, 8, 8)).astype(np.float32))
    e2_fixed = f(x2).detach()
    e1_fixed = f(x1).detach()
    grads = []
    for a, b in ((f(x1), e2_fixed), (e1_fixed, f(x2)), (f(x1), f(x2))):
        for p in f.parameters():
            p.grad = None
        ((a - b) ** 2).sum().backward()
        grads.append(f[-1].weight.grad.numpy().copy())
    np.testing.assert_allclose(grads[2], grads[0] + grads[1], rtol=1e-4, atol=1e-5,
                               err_msg="the shared weights collect the gradient of both branches")


# ----- M4.04 - M4.06: triplet loss, the verification head ---------------------------------------------------

def triplet_definition(a, p, n, alpha):
    pos = np.sum((a - p) ** 2, axis=-1)
    neg = np.sum((a - n) ** 2, axis=-1)
    return np.maximum(pos - neg + alpha, 0).sum()


@spec("M4.04")
@PROPERTY
@given(m=st.integers(1, 6), d=st.integers(1, 8), alpha=st.floats(0, 1), seed=st.integers(0, 999))
def test_triplet_loss_is_the_course_definition(m, d, alpha, seed):
    rng = np.random.default_rng(seed)
    a, p, n = (rng.standard_normal((m, d)) for _ in range(3))
    got = F.triplet_loss(t(a), t(p), t(n), margin=alpha).item()
    expected = triplet_definition(a, p, n, alpha)
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-12), \
        f"J = sum_i max(||f(A)-f(P)||^2 - ||f(A)-f(N)||^2 + alpha, 0) = {expected:.6f} (m={m}, alpha={alpha:.3f}); got {got:.6f}"


@spec("M4.04")
def test_triplet_loss_uses_squared_distances():
    """||A-P||^2 = 1, ||A-N||^2 = 1.21, alpha = 0.2: 1 - 1.21 + 0.2 < 0, so L = 0; with plain distances 1 - 1.1 + 0.2 = 0.1."""
    a, p, n = t([[0.0, 0.0]]), t([[1.0, 0.0]]), t([[0.0, 1.1]])
    got = F.triplet_loss(a, p, n, margin=0.2).item()
    assert got == pytest.approx(0.0, abs=1e-12), f"with squared distances L = max(1 - 1.21 + 0.2, 0) = 0, got {got}"
    a2, p2, n2 = t([[0.0, 0.0]]), t([[1.0, 0.0]]), t([[0.0, 1.0]])
    assert F.triplet_loss(a2, p2, n2, margin=0.2).item() == pytest.approx(0.2), "max(1 - 1 + 0.2, 0) = 0.2"
    two = F.triplet_loss(t([[0.0, 0.0]] * 2), t([[1.0, 0.0]] * 2), t([[0.0, 1.0]] * 2), margin=0.2).item()
    assert two == pytest.approx(0.4), "J sums L over the triplets"


@spec("M4.04")
def test_triplet_loss_gradient():
    a = t([[0.0, 0.0]], requires_grad=True)
    p, n = t([[1.0, 0.0]]), t([[0.0, 1.0]])
    F.triplet_loss(a, p, n, margin=0.5).backward()
    # dL/dA = 2(A - P) - 2(A - N) = 2(N - P)
    np.testing.assert_allclose(a.grad.numpy(), [[-2.0, 2.0]], err_msg="dL/df(A) = 2(f(N) - f(P)) when the loss is active")


@spec("M4.05")
@PROPERTY
@given(m=st.integers(1, 5), d=st.integers(1, 8), alpha=st.floats(0.01, 1))
def test_margin_rules_out_the_all_zero_encoding(m, d, alpha):
    zero = mg.zeros(m, d)
    assert F.triplet_loss(zero, zero, zero, margin=0.0).item() == 0, \
        "without the margin, f = 0 satisfies ||f(A)-f(P)||^2 - ||f(A)-f(N)||^2 <= 0 (loss 0)"
    got = F.triplet_loss(zero, zero, zero, margin=alpha).item()
    assert got == pytest.approx(m * alpha, rel=1e-6), \
        f"with the margin alpha={alpha:.3f}, f = 0 costs alpha per triplet: {m} * alpha = {m * alpha:.4f}, got {got:.4f}"


@spec("M4.06")
@PROPERTY
@given(K=st.integers(1, 16), N=st.integers(1, 4), seed=st.integers(0, 999))
def test_verification_head_is_logistic_regression_on_abs_difference(K, N, seed):
    rng = np.random.default_rng(seed)
    head = VerificationHead(K)
    params = dict(head.named_parameters())
    w = rng.standard_normal(params["weight"].shape)
    b = rng.standard_normal(params["bias"].shape)
    params["weight"].data[...] = w
    params["bias"].data[...] = b
    fi = rng.standard_normal((N, K)).astype(np.float32)
    fj = rng.standard_normal((N, K)).astype(np.float32)
    got = head(mg.tensor(fi), mg.tensor(fj)).numpy()
    expected = 1 / (1 + np.exp(-(np.abs(fi - fj) @ w.reshape(-1) + b.reshape(-1))))
    np.testing.assert_allclose(got.reshape(-1), expected, rtol=1e-4,
                               err_msg="y = sigmoid(sum_k w_k |f(x_i)_k - f(x_j)_k| + b)")
    np.testing.assert_allclose(head(mg.tensor(fj), mg.tensor(fi)).numpy(), got, rtol=1e-6,
                               err_msg="the head is symmetric in x_i and x_j")


@spec("M4.06")
def test_verification_head_trains_as_binary_classification():
    rng = np.random.default_rng(0)
    K = 8
    base = rng.standard_normal((32, K)).astype(np.float32)
    same = rng.integers(0, 2, 32)
    other = np.where(same[:, None] == 1, base + 0.1 * rng.standard_normal((32, K)), rng.standard_normal((32, K)))
    fi, fj = mg.tensor(base), mg.tensor(other.astype(np.float32))
    target = mg.tensor(same.astype(np.float32))
    head = VerificationHead(K)
    opt = optim.SGD(head.parameters(), lr=0.5)
    for _ in range(60):
        opt.zero_grad()
        loss = F.binary_cross_entropy(head(fi, fj), target)
        loss.backward()
        opt.step()
    accuracy = ((head(fi, fj).numpy() > 0.5) == (same == 1)).mean()
    assert accuracy >= 0.95, f"the verification head should separate same/different pairs, accuracy {accuracy:.2f}"


# ----- M4.07 - M4.08: style transfer's cost and update, what units learn -------------------------------------

@spec("M4.07")
@PROPERTY
@given(alpha=st.floats(0, 100), beta=st.floats(0, 100), jc=st.floats(0, 10), js=st.floats(0, 10))
def test_total_cost_is_alpha_content_plus_beta_style(alpha, beta, jc, js):
    got = total_cost(t(jc), t(js), alpha=alpha, beta=beta).item()
    assert got == pytest.approx(alpha * jc + beta * js, rel=1e-9, abs=1e-12), \
        f"J(G) = alpha J_content + beta J_style = {alpha:.2f}*{jc:.2f} + {beta:.2f}*{js:.2f}, got {got}"


@spec("M4.07")
def test_gradient_descent_on_the_generated_image_lowers_the_cost():
    """G starts random; G := G - lr * dJ/dG lowers J(G) = alpha J_content(C, G) + beta J_style(S, G)."""
    mg.manual_seed(0)
    rng = np.random.default_rng(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
    for p in net.parameters():
        p.requires_grad = False
    C = mg.tensor(rng.uniform(0, 1, (1, 3, 8, 8)).astype(np.float32))
    S = mg.tensor(rng.uniform(0, 1, (1, 3, 8, 8)).astype(np.float32))
    a_C, a_S = net(C).detach(), net(S).detach()
    G = rng.uniform(0, 1, (1, 3, 8, 8)).astype(np.float32)
    costs = []
    for _ in range(40):
        g = mg.tensor(G, requires_grad=True)
        a_G = net(g)
        J = total_cost(content_cost(a_C, a_G), style_cost([a_S], [a_G]), alpha=1.0, beta=100.0)
        J.backward()
        costs.append(J.item())
        G = G - 0.05 * g.grad.numpy()
    assert all(b <= a + 1e-6 for a, b in zip(costs, costs[1:])), f"each step should lower J(G): {np.round(costs, 4)}"
    assert costs[-1] < 0.5 * costs[0], f"J(G) should fall: {costs[0]:.4f} -> {costs[-1]:.4f}"


def _bars(rng, n, size=8):
    """Images with one vertical (label 0) or horizontal (label 1) bright bar."""
    images = np.zeros((n, 1, size, size), dtype=np.float32)
    labels = rng.integers(0, 2, n)
    for k in range(n):
        where = rng.integers(1, size - 1)
        if labels[k] == 0:
            images[k, 0, :, where] = 1.0
        else:
            images[k, 0, where, :] = 1.0
    return images + 0.05 * rng.standard_normal(images.shape).astype(np.float32), labels


def _orientation(patch):
    """'v' when a patch varies across columns only (vertical structure), 'h' across rows only, '-' otherwise."""
    across_columns = np.ptp(patch[0].mean(axis=0))
    across_rows = np.ptp(patch[0].mean(axis=1))
    return "v" if across_columns > 2 * across_rows else "h" if across_rows > 2 * across_columns else "-"


@spec("M4.08")
@pytest.mark.experiment
def test_top_nine_patches_of_a_trained_unit_show_its_feature():
    """Train a small ConvNet to tell vertical bars from horizontal ones. For each unit that learned something
    (is not dead), its top nine patches on new images show one feature: all vertical or all horizontal
    structure, though the patches overall are a mix."""
    mg.manual_seed(0)
    rng = np.random.default_rng(0)
    images, labels = _bars(rng, 64)
    features = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU())
    head = nn.Linear(4, 2)
    opt = optim.Adam(list(features.parameters()) + list(head.parameters()), lr=0.05)
    x, y = mg.tensor(images), mg.tensor(labels)
    for _ in range(80):
        opt.zero_grad()
        a = features(x)
        pooled = a.max(dim=3).values.max(dim=2).values    # global max pool: (N, 4)
        loss = F.cross_entropy(head(pooled), y)
        loss.backward()
        opt.step()
    assert loss.item() < 0.2, f"the tiny ConvNet should learn the task, loss {loss.item():.3f}"
    test_images, _ = _bars(np.random.default_rng(1), 64)
    everywhere, _, _ = top_patches(features, test_images, 0, k=64 * 6 * 6)
    mix = [_orientation(p) for p in everywhere]
    assert min(mix.count("v"), mix.count("h")) > 0.2 * len(mix), "all patches together hold both orientations"
    live = 0
    for unit in range(4):
        patches, acts, where = top_patches(features, test_images, unit, k=9)
        assert patches.shape == (9, 1, 3, 3) and np.all(np.diff(acts) <= 0), "nine patches, strongest first"
        if acts[-1] <= 0.05:
            continue                                         # a dead unit learned nothing
        live += 1
        kinds = [_orientation(p) for p in patches]
        agree = max(kinds.count("v"), kinds.count("h"))
        assert agree >= 8, f"unit {unit}'s top nine patches should show one feature; orientations {''.join(kinds)}"
    assert live >= 2, f"at least two units should have learned a feature, {live} did"


# ----- M4.09 - M4.12: content cost, style matrix, style costs ----------------------------------------------

@spec("M4.09")
@PROPERTY
@given(shape=shapes, seed=st.integers(0, 999))
def test_content_cost_and_its_gradient(shape, seed):
    rng = np.random.default_rng(seed)
    aC, aG = rng.standard_normal(shape), rng.standard_normal(shape)
    g = t(aG, requires_grad=True)
    J = content_cost(t(aC), g)
    assert J.item() == pytest.approx(0.5 * np.sum((aC - aG) ** 2)), "J_content = 1/2 ||a(C) - a(G)||^2"
    J.backward()
    np.testing.assert_allclose(g.grad.numpy(), aG - aC, atol=1e-12, err_msg="dJ_content/da(G) = a(G) - a(C)")
    assert content_cost(t(aC), t(aC)).item() == 0


@spec("M4.10")
@PROPERTY
@given(shape=shapes, seed=st.integers(0, 999))
def test_gram_matrix_is_channel_correlation(shape, seed):
    """G_kk' = sum_i sum_j a_ijk a_ijk' over the n_H x n_W positions, for channels k, k'.

    Erratum: the notes print the generated image's style matrix as sum_ij w_ijk w_ijk. It is
    the activations a (not the weights w), and the second factor is channel k' (not k):
    with k twice, every entry would be a diagonal one.
    """
    n_c, n_h, n_w = shape
    a = np.random.default_rng(seed).standard_normal(shape)
    G = gram_matrix(t(a)).numpy()
    assert G.shape == (n_c, n_c), f"the style matrix is n_C x n_C = {n_c}x{n_c}, got {G.shape}"
    for k in range(n_c):
        for k2 in range(n_c):
            expected = sum(a[k, i, j] * a[k2, i, j] for i in range(n_h) for j in range(n_w))
            assert G[k, k2] == pytest.approx(expected, abs=1e-9), f"G[{k},{k2}] = sum_ij a_ijk a_ijk' = {expected:.5f}, got {G[k, k2]:.5f}"
    np.testing.assert_allclose(G, G.T, err_msg="the style matrix is symmetric")
    assert np.linalg.eigvalsh(G).min() >= -1e-9 * max(1, np.abs(G).max()), "the style matrix is positive semi-definite"
    np.testing.assert_allclose(gram_matrix(t(a[None])).numpy(), G, err_msg="(1, n_C, n_H, n_W) gives the same matrix")


@spec("M4.10")
def test_gram_matrix_channels_that_fire_together():
    a = np.zeros((3, 2, 2))
    a[0] = [[1, 2], [0, 0]]
    a[1] = [[2, 4], [0, 0]]       # fires with channel 0
    a[2] = [[0, 0], [5, 5]]       # fires elsewhere
    G = gram_matrix(t(a)).numpy()
    assert G[0, 1] == 10 and G[0, 2] == 0 and G[2, 2] == 50


@spec("M4.11")
@PROPERTY
@given(shape=shapes, c=st.floats(0.1, 3))
def test_layer_style_cost_normalisation(shape, c):
    """a(S) = c everywhere, a(G) = 0: G(S)_kk' = n_H n_W c^2, so J = n_C^2 (n_H n_W c^2)^2 / (2 n_H n_W n_C)^2 = c^4 / 4 for every shape."""
    a_S = t(np.full(shape, c))
    a_G = t(np.zeros(shape))
    got = layer_style_cost(a_S, a_G).item()
    assert got == pytest.approx(c ** 4 / 4, rel=1e-9), \
        f"J[l]_style = 1/(2 n_H n_W n_C)^2 sum (G(S) - G(G))^2 = c^4/4 = {c ** 4 / 4:.5f} for shape {shape}, got {got:.5f}"


@spec("M4.11")
@PROPERTY
@given(shape=shapes, seed=st.integers(0, 999))
def test_layer_style_cost_against_the_style_matrices(shape, seed):
    rng = np.random.default_rng(seed)
    n_c, n_h, n_w = shape
    aS, aG = rng.standard_normal(shape), rng.standard_normal(shape)
    GS = np.einsum("kij,lij->kl", aS, aS)
    GG = np.einsum("kij,lij->kl", aG, aG)
    expected = np.sum((GS - GG) ** 2) / (2 * n_h * n_w * n_c) ** 2
    assert layer_style_cost(t(aS), t(aG)).item() == pytest.approx(expected, rel=1e-9)
    assert layer_style_cost(t(aS), t(aS)).item() == 0, "J_style(S, S) = 0"


@spec("M4.12")
@PROPERTY
@given(lams=st.lists(st.floats(0, 2), min_size=1, max_size=3), seed=st.integers(0, 999))
def test_style_cost_weights_the_layers(lams, seed):
    rng = np.random.default_rng(seed)
    layers = [(rng.standard_normal((2, 3, 3)), rng.standard_normal((2, 3, 3))) for _ in lams]
    S = [t(s) for s, _ in layers]
    G = [t(g) for _, g in layers]
    got = style_cost(S, G, lams).item()
    expected = sum(lam * layer_style_cost(s, g).item() for lam, s, g in zip(lams, S, G))
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-12), "J_style = sum_l lambda[l] J[l]_style"
    onehot = [1.0] + [0.0] * (len(lams) - 1)
    assert style_cost(S, G, onehot).item() == pytest.approx(layer_style_cost(S[0], G[0]).item()), "lambda = (1, 0, ...) picks layer 1"
