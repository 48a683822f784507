"""The vectorized Ensemble equals a per-copy Python loop over ``ens.member(i)`` (outputs, running
statistics and gradients), for the DCGAN, MLP and PacGAN-toy families, and for each of them with virtual
batch norm (each copy its own reference batch)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor, nn

from bayesgan.ensemble import Ensemble
from bayesgan.models import DCGAN, MLP, PacGANToy
from bayesgan.models.layers import frozen_running_stats
from bayesgan.reference_batches import fill_references

C, B, K = 3, 6, 4  # copies, batch, logits
ATOL = 1e-5

IMAGE = (1, 28, 28)
DIGITS = (1, 8, 8)
DCGAN_SMALL = DCGAN(z_dim=16, width=8)
MLP_SMALL = MLP(z_dim=5, hidden=16, depth=2)
DCGAN_VBN = DCGAN(z_dim=16, width=8, bn_affine=True, virtual_batch_norm="both", vbn_reference_size=5)
MLP_VBN = MLP(z_dim=5, hidden=16, depth=2, virtual_batch_norm="both", vbn_reference_size=5)
PACGAN_SMALL = PacGANToy(g_hidden=12, g_depth=2, d_hidden=10, d_depth=2, pieces=3)
PACGAN_VBN = PacGANToy(g_hidden=12, g_depth=2, virtual_batch_norm="generator", vbn_reference_size=5)

# name → (factory, input shape of one example)
NETS: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...]]] = {
    "dcgan_d": (lambda: DCGAN_SMALL.build_discriminator(IMAGE, K), IMAGE),
    "dcgan_g": (lambda: DCGAN_SMALL.build_generator(IMAGE), (16,)),
    # 8x8 (the default digits experiment): every convolution is a dense product, run as stacked kernels.
    "dcgan8_d": (lambda: DCGAN_SMALL.build_discriminator(DIGITS, K), DIGITS),
    "dcgan8_g": (lambda: DCGAN_SMALL.build_generator(DIGITS), (16,)),
    "mlp_d": (lambda: MLP_SMALL.build_discriminator((2,), K), (2,)),
    "mlp_g": (lambda: MLP_SMALL.build_generator((1, 8, 8)), (5,)),
    "pacgan_d": (lambda: PACGAN_SMALL.build_discriminator((2,), K), (2,)),
    "pacgan_g": (lambda: PACGAN_SMALL.build_generator((2,)), (2,)),
    "dcgan_vbn_d": (lambda: DCGAN_VBN.build_discriminator(IMAGE, K), IMAGE),
    "dcgan_vbn_g": (lambda: DCGAN_VBN.build_generator(IMAGE), (16,)),
    "mlp_vbn_d": (lambda: MLP_VBN.build_discriminator((2,), K), (2,)),
    "mlp_vbn_g": (lambda: MLP_VBN.build_generator((1, 8, 8)), (5,)),
    "pacgan_vbn_g": (lambda: PACGAN_VBN.build_generator((2,)), (2,)),
    # Virtual batch norm inside the 8x8 DCGAN's stacked kernels (dense convolutions, 4-D activations).
    "dcgan8_vbn_d": (lambda: DCGAN_VBN.build_discriminator(DIGITS, K), DIGITS),
    "dcgan8_vbn_g": (lambda: DCGAN_VBN.build_generator(DIGITS), (16,)),
}


@pytest.fixture(params=list(NETS))
def case(request: pytest.FixtureRequest) -> tuple[Ensemble, tuple[int, ...]]:
    torch.manual_seed(0)
    factory, in_shape = NETS[request.param]
    ens = Ensemble(factory, C)
    # Virtual batch norm (a no-op otherwise): a different reference batch per copy, off-centre and scaled.
    source = lambda size: torch.randn(C, size, *in_shape) * 1.5 + 0.3  # noqa: E731
    fill_references(ens, data=source, latent=source)
    return ens, in_shape


def members(ens: Ensemble) -> list[nn.Module]:
    return [ens.member(i) for i in range(ens.num_copies)]


def close(a: Tensor, b: Tensor) -> bool:
    # 1e-5 relative to the tensor's scale: gradients are sums over a whole batch (large, with cancellation),
    # and vmap legitimately changes the float32 summation order.
    scale = max(1.0, b.abs().max().item())
    return torch.allclose(a, b, atol=ATOL * scale, rtol=ATOL)


def assert_buffers_match(ens: Ensemble, refs: list[nn.Module]) -> None:
    state = ens.current_state()
    for i, ref in enumerate(refs):
        for name, buf in ref.named_buffers():
            assert close(state[name][i], buf), (i, name)


def warm_up(ens: Ensemble, in_shape: tuple[int, ...]) -> None:
    """One train-mode step so running statistics differ from their 0/1 initial values."""
    with torch.no_grad():
        ens(torch.randn(C, B, *in_shape) * 2 + 0.5)


def test_copies_are_independent(case: tuple[Ensemble, tuple[int, ...]]) -> None:
    ens, _ = case
    for name in ens.param_names:
        t = ens.current_state()[name]
        # Biases and batch-norm scales start at constants (0 and 1) in every copy; weights are drawn.
        if "bias" not in name and not name.split(".")[-2].startswith(("bn", "vbn")):
            assert not torch.equal(t[0], t[1]), name


def test_train_forward_matches_loop(case: tuple[Ensemble, tuple[int, ...]]) -> None:
    ens, in_shape = case
    ens.train()
    refs = members(ens)
    x = torch.randn(C, B, *in_shape)
    out = ens(x)
    assert out.shape[:2] == (C, B)
    for i, ref in enumerate(refs):
        assert ref.training
        assert close(out[i], ref(x[i])), i
    assert_buffers_match(ens, refs)  # each copy updated its own running statistics


def test_eval_forward_matches_loop(case: tuple[Ensemble, tuple[int, ...]]) -> None:
    ens, in_shape = case
    warm_up(ens, in_shape)
    ens.eval()
    refs = members(ens)
    before = ens.snapshot()
    x = torch.randn(C, B, *in_shape)
    out = ens(x)
    for i, ref in enumerate(refs):
        assert not ref.training
        assert close(out[i], ref(x[i])), i
    for name, t in ens.current_state().items():
        assert torch.equal(t, before[name]), name  # eval mode never touches running statistics


@pytest.mark.parametrize("train", [True, False])
def test_shared_input_matches_loop(case: tuple[Ensemble, tuple[int, ...]], train: bool) -> None:
    ens, in_shape = case
    warm_up(ens, in_shape)
    ens.train(train)
    refs = members(ens)
    x = torch.randn(B, *in_shape)
    out = ens(x, shared_input=True)
    for i, ref in enumerate(refs):
        assert close(out[i], ref(x)), i
    assert_buffers_match(ens, refs)


def test_cross_matches_loop(case: tuple[Ensemble, tuple[int, ...]]) -> None:
    ens, in_shape = case
    warm_up(ens, in_shape)
    ens.train()
    refs = members(ens)
    before = ens.snapshot()
    n_batches = 2
    # Batches with very different statistics: a shared BN batch would mix them and fail the comparison.
    x = torch.randn(n_batches, B, *in_shape) * torch.tensor([1.0, 5.0]).view(-1, *[1] * (1 + len(in_shape)))
    out = ens.cross(x)
    assert out.shape[:3] == (C, n_batches, B)
    with frozen_running_stats():
        for c, ref in enumerate(refs):
            for g in range(n_batches):
                assert close(out[c, g], ref(x[g])), (c, g)
    for name, t in ens.current_state().items():
        assert torch.equal(t, before[name]), name  # running statistics untouched


def test_gradients_match_loop(case: tuple[Ensemble, tuple[int, ...]]) -> None:
    ens, in_shape = case
    warm_up(ens, in_shape)
    ens.train()
    refs = members(ens)
    x = torch.randn(C, B, *in_shape)
    out = ens(x)
    weights = torch.randn(out.shape[1:])  # a non-trivial scalar loss per copy

    def loss(y: Tensor) -> Tensor:
        return (torch.sin(y) * weights).sum()

    total = sum(loss(y) for y in out)
    total.backward()
    for i, ref in enumerate(refs):
        loss(ref(x[i])).backward()
    assert_buffers_match(ens, refs)
    state = ens.current_state()
    for i, ref in enumerate(refs):
        for name, p in ref.named_parameters():
            assert p.grad is not None
            assert close(state[name].grad[i], p.grad), (i, name)


def test_detach_blocks_gradients(case: tuple[Ensemble, tuple[int, ...]]) -> None:
    ens, in_shape = case
    ens.eval()
    x = torch.randn(C, B, *in_shape, requires_grad=True)
    ens(x, detach=True).sum().backward()
    assert all(p.grad is None for p in ens.parameters())
    assert x.grad is not None


def test_snapshot_round_trip_and_state_evaluation(case: tuple[Ensemble, tuple[int, ...]]) -> None:
    ens, in_shape = case
    warm_up(ens, in_shape)
    ens.eval()  # eval mode: outputs depend on the running statistics too
    x = torch.randn(C, B, *in_shape)
    snap = ens.snapshot()
    expected = ens(x).detach()
    assert all(t.device.type == "cpu" and not t.requires_grad for t in snap.values())
    # Move the live weights and statistics elsewhere.
    with torch.no_grad():
        for t in ens.current_state().values():
            t.add_(0.1 * torch.randn_like(t)).abs_()
    assert not close(ens(x), expected)
    assert close(ens(x, state=snap), expected)  # a snapshot evaluated with this architecture
    crossed = ens.cross(x[:1], state=snap)[:, 0]
    for i in range(C):
        assert close(crossed[i], ens.member(i, snap)(x[0])), i
    ens.load_snapshot(snap)
    assert close(ens(x), expected)
    for name, t in ens.current_state().items():
        assert torch.equal(t, snap[name]), name
    # The snapshot is a copy: changing the live ensemble leaves it alone.
    with torch.no_grad():
        next(iter(ens.parameters())).add_(1.0)
    assert not torch.equal(next(iter(ens.parameters())), snap[ens.param_names[0]])


def test_train_mode_state_evaluation_leaves_snapshot_alone() -> None:
    torch.manual_seed(0)
    ens = Ensemble(NETS["dcgan_d"][0], C).train()
    snap = ens.snapshot()
    before = {n: t.clone() for n, t in snap.items()}
    ens(torch.randn(C, B, *IMAGE), state=snap)
    for name, t in snap.items():
        assert torch.equal(t, before[name]), name


def test_fully_connected_families_run_as_stacked_kernels() -> None:
    # MLP and PacGAN-toy copies run as batched kernels without vmap (the speed of the toy benchmarks rests
    # on it), and so does a DCGAN on 8x8 images (all its convolutions are dense products); a family with
    # layers stacked.py does not know (the native convolutions of a 28x28 DCGAN) falls back to vmap.
    expected = {"mlp_d": True, "mlp_g": True, "pacgan_d": True, "pacgan_g": True, "dcgan_d": False}
    expected |= {"dcgan_g": False, "dcgan8_d": True, "dcgan8_g": True}
    expected |= {"mlp_vbn_d": True, "mlp_vbn_g": True, "pacgan_vbn_g": True}
    expected |= {"dcgan8_vbn_d": True, "dcgan8_vbn_g": True}
    for name, stacked in expected.items():
        assert Ensemble(NETS[name][0], 2).stacked_kernels is stacked, name


def test_input_gradients_match_loop(case: tuple[Ensemble, tuple[int, ...]]) -> None:
    # The generator step's gradient reaches the fakes through the discriminator; inputs narrower than 16
    # (2-D points) take stacked._linear's column-major weight path.
    ens, in_shape = case
    warm_up(ens, in_shape)
    ens.train()
    refs = members(ens)
    x = torch.randn(C, B, *in_shape, requires_grad=True)
    out = ens(x)
    weights = torch.randn(out.shape[1:])
    (torch.sin(out) * weights).sum().backward()
    x_ref = x.detach().clone().requires_grad_()
    for i, ref in enumerate(refs):
        (torch.sin(ref(x_ref[i])) * weights).sum().backward()
    assert x.grad is not None and x_ref.grad is not None
    assert close(x.grad, x_ref.grad)
    state = ens.current_state()
    for i, ref in enumerate(refs):
        for name, p in ref.named_parameters():
            assert close(state[name].grad[i], p.grad), (i, name)


def test_shared_and_cross_equals_separate_calls(case: tuple[Ensemble, tuple[int, ...]]) -> None:
    # One pass over the real batch and the fakes must change nothing: outputs, gradients, running stats.
    ens, in_shape = case
    warm_up(ens, in_shape)
    ens.train()
    start = ens.snapshot()
    shared = torch.randn(B, *in_shape) * 3 + 1  # statistics unlike the fakes': mixing them would show
    x = torch.randn(2, B, *in_shape)
    results = []
    for together in (True, False):
        ens.load_snapshot(start)
        ens.zero_grad(set_to_none=True)
        if together:
            real, fake = ens.shared_and_cross(shared, x)
        else:
            real, fake = ens(shared, shared_input=True), ens.cross(x)
        assert real.shape[:2] == (C, B) and fake.shape[:3] == (C, 2, B)
        (torch.sin(real).sum() + torch.cos(fake).sum()).backward()
        grads = {n: ens.current_state()[n].grad.clone() for n in ens.param_names}
        results.append((real.detach(), fake.detach(), grads, ens.snapshot()))
    (real, fake, grads, after), (real_ref, fake_ref, grads_ref, after_ref) = results
    assert close(real, real_ref) and close(fake, fake_ref)
    for name in grads:
        assert close(grads[name], grads_ref[name]), name
    for name in after:
        assert close(after[name], after_ref[name]), name


def test_only_batch_independent_vectorized_networks_fuse_batches() -> None:
    expected = {"mlp_d": True, "mlp_g": True, "pacgan_d": True, "pacgan_g": False, "dcgan8_d": False}
    expected |= {"dcgan_d": False, "mlp_vbn_d": False, "pacgan_vbn_g": False}
    for name, fused in expected.items():
        assert Ensemble(NETS[name][0], 2).fuses_batches is fused, name
    assert not Ensemble(NETS["mlp_d"][0], 2, vectorize=False).fuses_batches  # the loop stays a reference
