"""Hand-written fast paths against their references: the distribution functions against
``torch.distributions``, the Adam and RMSprop optimizers against ``torch.optim``, Monte-Carlo returns
against a hand computation."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch.distributions import Categorical, Normal, TanhTransform, TransformedDistribution

from algos.base import distributions as D
from algos.base.optim import Adam, RMSprop
from algos.base.returns import compute_mc_returns


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_categorical_matches_torch():
    logits = torch.randn(64, 5) * 3
    actions = torch.randint(0, 5, (64,))
    ref = Categorical(logits=logits)
    torch.testing.assert_close(D.categorical_log_prob(logits, actions), ref.log_prob(actions))
    torch.testing.assert_close(D.categorical_entropy(logits), ref.entropy())
    logp, ent = D.categorical_log_prob_entropy(logits, actions)
    torch.testing.assert_close(logp, ref.log_prob(actions))
    torch.testing.assert_close(ent, ref.entropy())
    sample, sample_logp = D.categorical_sample(logits)
    torch.testing.assert_close(sample_logp, ref.log_prob(sample))
    # sampling frequencies follow the probabilities
    probs = torch.softmax(torch.tensor([[0.0, 1.0, 2.0]]), -1)
    draws = torch.cat([D.categorical_sample(torch.log(probs).expand(2000, 3))[0] for _ in range(5)])
    freq = torch.bincount(draws, minlength=3).float() / len(draws)
    torch.testing.assert_close(freq, probs[0], atol=0.02, rtol=0)


def test_gaussian_matches_torch():
    mean, log_std = torch.randn(32, 3), torch.randn(3) * 0.5
    x = torch.randn(32, 3)
    ref = Normal(mean, log_std.exp().expand_as(mean))
    torch.testing.assert_close(D.gaussian_log_prob(mean, log_std, x), ref.log_prob(x).sum(-1))
    torch.testing.assert_close(D.gaussian_entropy(log_std, mean.shape[:1]), ref.entropy().sum(-1))
    sample, logp = D.gaussian_sample(mean, log_std)
    torch.testing.assert_close(logp, ref.log_prob(sample).sum(-1))
    # state-dependent log std (same shape as the mean) too
    log_std2 = torch.randn(32, 3) * 0.3
    ref2 = Normal(mean, log_std2.exp())
    torch.testing.assert_close(D.gaussian_log_prob(mean, log_std2, x), ref2.log_prob(x).sum(-1))


def test_tanh_gaussian_matches_torch():
    mean, log_std = torch.randn(256, 2), torch.randn(256, 2) * 0.5
    torch.manual_seed(5)
    action, logp = D.tanh_gaussian_rsample(mean, log_std)
    torch.manual_seed(5)
    u = mean + torch.randn_like(mean) * log_std.exp()  # the same pre-squash sample
    torch.testing.assert_close(action, torch.tanh(u))
    base = Normal(mean, log_std.exp())
    ref_logp = base.log_prob(u).sum(-1) - TanhTransform().log_abs_det_jacobian(u, action).sum(-1)
    torch.testing.assert_close(logp, ref_logp)
    # and the TransformedDistribution's density where atanh(action) is well conditioned
    ref = TransformedDistribution(base, [TanhTransform()])
    ok = (action.abs() < 0.99).all(-1)
    torch.testing.assert_close(logp[ok], ref.log_prob(action).sum(-1)[ok], atol=1e-3, rtol=1e-3)
    # reparameterized: gradients reach the mean and log std
    mean.requires_grad_(True)
    log_std.requires_grad_(True)
    a, lp = D.tanh_gaussian_rsample(mean, log_std)
    (a.sum() + lp.sum()).backward()
    assert mean.grad is not None and log_std.grad is not None


def test_noise_processes():
    rng = np.random.default_rng(0)
    g = D.GaussianNoise((2,), 0.3, rng)
    samples = np.concatenate([g(1000) for _ in range(5)])
    assert samples.shape == (5000, 2) and abs(samples.std() - 0.3) < 0.02
    ou = D.OrnsteinUhlenbeckNoise((2,), 0.3, np.random.default_rng(0))
    seq = np.stack([ou(4) for _ in range(200)])
    lag1 = np.corrcoef(seq[:-1, 0, 0], seq[1:, 0, 0])[0, 1]
    assert lag1 > 0.8  # temporally correlated, unlike Gaussian noise
    ou.reset(np.array([True, False, False, False]))
    assert np.all(ou.x[0] == 0) and np.any(ou.x[1] != 0)
    state = ou.state_dict()
    other = D.OrnsteinUhlenbeckNoise((2,), 0.3, np.random.default_rng(0))
    other.load_state_dict(state)
    np.testing.assert_array_equal(other.x, ou.x)


def test_adam_matches_torch_adam():
    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    twin = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    twin.load_state_dict(net.state_dict())
    ours = Adam(net.parameters(), lr=1e-2, eps=1e-5)
    ref = torch.optim.Adam(twin.parameters(), lr=1e-2, eps=1e-5)
    for step in range(30):
        x = torch.randn(16, 4)
        for model, opt in ((net, ours), (twin, ref)):
            opt.zero_grad()
            out = model(x)
            # from step 10 on, the first layer gets no gradient every other step
            if step < 10 or step % 2:
                loss = out.pow(2).mean()
            else:
                loss = model[2](out.detach()[:, :1].repeat(1, 8)).sum()
            loss.backward()
            opt.step()
        for p, q in zip(net.parameters(), twin.parameters()):
            torch.testing.assert_close(p, q, atol=1e-6, rtol=1e-5)
    assert ours.steps[0] < ours.steps[-1]  # the first layer really skipped steps


def test_adam_state_round_trip():
    net = torch.nn.Linear(3, 1)
    opt = Adam(net.parameters(), lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        net(torch.ones(2, 3)).sum().backward()
        opt.step()
    other_net = torch.nn.Linear(3, 1)
    other = Adam(other_net.parameters(), lr=0.5)
    other.load_state_dict(opt.state_dict())
    assert other.steps == opt.steps and other.param_groups[0]["lr"] == 0.1
    with pytest.raises(ValueError, match="does not match"):
        Adam(torch.nn.Linear(2, 1).parameters()).load_state_dict(opt.state_dict())


@pytest.mark.parametrize("centered", [False, True])
def test_rmsprop_matches_torch_rmsprop(centered):
    torch.manual_seed(2)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    twin = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    twin.load_state_dict(net.state_dict())
    ours = RMSprop(net.parameters(), lr=7e-3, alpha=0.99, eps=1e-5, centered=centered)
    ref = torch.optim.RMSprop(twin.parameters(), lr=7e-3, alpha=0.99, eps=1e-5, centered=centered)
    for step in range(30):
        x = torch.randn(16, 4)
        for model, opt in ((net, ours), (twin, ref)):
            opt.zero_grad()
            out = model(x)
            if step < 10 or step % 2:  # later, the first layer skips every other step
                loss = out.pow(2).mean()
            else:
                loss = model[2](out.detach()[:, :1].repeat(1, 8)).sum()
            loss.backward()
            opt.step()
        for p, q in zip(net.parameters(), twin.parameters()):
            torch.testing.assert_close(p, q, atol=1e-6, rtol=1e-5)
    # state round trip: a restored optimizer continues identically
    other_net = copy.deepcopy(net)
    other = RMSprop(other_net.parameters(), lr=1.0, eps=1e-5, centered=centered)  # lr restored
    other.load_state_dict(ours.state_dict())
    assert other.param_groups[0]["lr"] == 7e-3
    x = torch.randn(16, 4)
    for model, opt in ((net, ours), (other_net, other)):
        opt.zero_grad()
        model(x).pow(2).mean().backward()
        opt.step()
    for p, q in zip(net.parameters(), other_net.parameters()):
        torch.testing.assert_close(p, q)
    with pytest.raises(ValueError, match="does not match"):
        RMSprop(torch.nn.Linear(2, 1).parameters()).load_state_dict(ours.state_dict())


def _mlp() -> torch.nn.Sequential:
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))


def test_optimizer_keeps_parameters_flat_and_clips_as_torch():
    net = _mlp()
    before = copy.deepcopy(net.state_dict())
    opt = Adam(net.parameters(), lr=1e-2)
    # every parameter is a view of the optimizer's flat tensor, with its values unchanged
    assert all(p.untyped_storage().data_ptr() == opt.flat.data_ptr() for p in net.parameters())
    for k, v in net.state_dict().items():
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)
    twin = _mlp()
    twin.load_state_dict(before)
    x = torch.randn(16, 4)
    for clip_value, max_norm in ((None, 0.5), (0.01, 0.05), (None, 1e9)):
        for model in (net, twin):
            model.zero_grad()
            (1e3 * model(x).pow(2).mean()).backward()
        norm = opt.clip(max_norm, clip_value)
        if clip_value is not None:
            torch.nn.utils.clip_grad_value_(twin.parameters(), clip_value)
        ref = torch.nn.utils.clip_grad_norm_(twin.parameters(), max_norm)
        assert norm == pytest.approx(float(ref), rel=1e-5)
        for p, q in zip(net.parameters(), twin.parameters()):  # .grad: views of the flat grads
            torch.testing.assert_close(p.grad, q.grad)
    assert np.isnan(opt.clip(None))  # no norm asked: none computed


def test_optimizer_refuses_parameters_moved_after_it_was_made():
    net = _mlp()
    opt = Adam(net.parameters())
    net.double()  # what .to(device) does: new tensors, the optimizer would update a copy
    net(torch.randn(2, 4, dtype=torch.float64)).sum().backward()
    with pytest.raises(RuntimeError, match="move networks to their device before"):
        opt.step()


def test_a_parameter_in_two_optimizers_is_flat_in_the_first_only():
    shared, head = torch.nn.Linear(4, 8), torch.nn.Linear(8, 2)
    first = Adam(list(shared.parameters()) + list(head.parameters()), lr=0.1)
    second = RMSprop(shared.parameters(), lr=0.1)
    assert first.flat is not None and second.flat is None
    for opt in (first, second):
        opt.zero_grad()
        head(shared(torch.ones(3, 4))).sum().backward()
        opt.step()
    assert shared.weight.untyped_storage().data_ptr() == first.flat.data_ptr()
    assert all(torch.isfinite(p).all() for p in shared.parameters())


def test_mc_returns_by_hand():
    # one env, 6 steps: truncated at t=1 (bootstrap V=10), terminated at t=3, running at the end
    rewards = np.array([[1.0], [2.0], [3.0], [4.0], [5.0], [6.0]])
    next_values = np.array([[0.0], [10.0], [0.0], [99.0], [0.0], [20.0]])
    terminated = np.array([[0], [0], [0], [1], [0], [0]], bool)
    truncated = np.array([[0], [1], [0], [0], [0], [0]], bool)
    g = 0.5
    # G5 = 6 + .5*20 = 16; G4 = 5 + .5*16 = 13; G3 = 4 (terminal); G2 = 3 + .5*4 = 5
    # G1 = 2 + .5*10 = 7 (truncated: bootstrap); G0 = 1 + .5*7 = 4.5
    out = compute_mc_returns(rewards, next_values, terminated, truncated, g)
    np.testing.assert_allclose(out[:, 0], [4.5, 7.0, 5.0, 4.0, 13.0, 16.0])
