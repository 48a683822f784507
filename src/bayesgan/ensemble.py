"""Many independent copies of one network, stored stacked and run as one vectorized call.

Every parameter and buffer of the copies is one tensor with a leading copy dimension, so a sampler that works
elementwise (SGHMC, SGLD, Adam) updates all copies with a single optimizer and a few fused kernels, and
``torch.func.vmap`` runs all copies in one call. Each copy keeps its own batch-norm statistics: a copy's
batch norm sees only the batch that copy is evaluated on.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from bayesgan import stacked
from bayesgan.models.layers import batch_groups, frozen_running_stats

State = dict[str, Tensor]


def _slot(name: str) -> str:
    # Parameter names may not contain dots.
    return name.replace(".", "__")


class Ensemble(nn.Module):
    """``num_copies`` independently initialised copies of ``factory()``.

    Call conventions (C = copies, B = batch):
      - ``ens(x)``: ``x`` is ``[C, B, ...]``, copy c sees ``x[c]``; returns ``[C, B, ...]``.
      - ``ens(x, shared_input=True)``: ``x`` is ``[B, ...]``, every copy sees it.
      - ``ens.cross(x)``: ``x`` is ``[G, B, ...]``; every copy sees every one of the G batches, each as its
        own batch-norm batch, without touching running statistics; returns ``[C, G, B, ...]``.
    ``state=`` evaluates other stacked weights (a posterior-bank snapshot) with this architecture;
    ``detach=True`` evaluates the current weights as constants (no gradient reaches this ensemble).
    ``ens.features(x)`` (``cross=True``: like ``cross``) stops before the last layer: the penultimate
    features of an ``nn.Sequential`` network, e.g. a discriminator's for feature matching.
    """

    def __init__(self, factory: Callable[[], nn.Module], num_copies: int, *, vectorize: bool = True) -> None:
        super().__init__()
        self.vectorize = vectorize  # False: a Python loop over copies (reference and benchmark baseline)
        if num_copies < 1:
            raise ValueError(f"an ensemble needs at least one copy, got num_copies={num_copies}")
        copies = [factory() for _ in range(num_copies)]
        params, buffers = stack_module_state(copies)
        self.num_copies = num_copies
        # The skeleton only supplies the architecture to functional_call; it is kept out of the module tree
        # so it owns no parameters, is not moved between devices and is not saved.
        object.__setattr__(self, "_skeleton", copies[0])
        # Fully connected families run as batched kernels on the stacked weights (no vmap overhead).
        self.stacked_kernels = stacked.supports(copies[0])
        # ... and if no layer looks across examples, shared_and_cross runs its two batches as one.
        self.fuses_batches = vectorize and stacked.batch_independent(copies[0])
        self.param_names = list(params)
        self.buffer_names = list(buffers)
        self.stacked_params = nn.Module()
        self.stacked_buffers = nn.Module()
        for name, value in params.items():
            self.stacked_params.register_parameter(_slot(name), nn.Parameter(value.detach().clone()))
        for name, value in buffers.items():
            self.stacked_buffers.register_buffer(_slot(name), value.clone())

    # -- state ---------------------------------------------------------------------------------------------
    def current_state(self, *, detach: bool = False) -> State:
        # The registries themselves, not getattr: nn.Module's attribute lookup is a visible cost per call at
        # toy scale, and every evaluation starts here.
        params, buffers = self.stacked_params._parameters, self.stacked_buffers._buffers
        state: State = {n: params[_slot(n)] for n in self.param_names}  # type: ignore[misc]
        if detach:
            state = {n: t.detach() for n, t in state.items()}
        state.update({n: buffers[_slot(n)] for n in self.buffer_names})  # type: ignore[misc]
        return state

    def snapshot(self) -> State:
        """A detached CPU copy of every parameter and buffer (stacked), e.g. for the posterior bank."""
        return {n: t.detach().to("cpu", copy=True) for n, t in self.current_state().items()}

    def load_snapshot(self, state: Mapping[str, Tensor]) -> None:
        with torch.no_grad():
            for name, target in self.current_state().items():
                target.copy_(state[name])

    def member(self, index: int, state: Mapping[str, Tensor] | None = None) -> nn.Module:
        """Copy ``index`` as an ordinary module (for export, inspection and loop references)."""
        state = self.current_state() if state is None else state
        module = copy.deepcopy(self._skeleton)
        module.load_state_dict({n: t[index].detach().clone() for n, t in state.items()})
        return module.to(next(iter(state.values())).device).train(self.training)

    def layer(self, name: str) -> nn.Module:
        """The architecture's submodule ``name`` (its type and settings; it holds no copy's weights)."""
        return self._skeleton.get_submodule(name)

    def train(self, mode: bool = True) -> Ensemble:
        super().train(mode)
        self._skeleton.train(mode)
        return self

    # -- evaluation ----------------------------------------------------------------------------------------
    def _call(self, params: State, buffers: State, x: Tensor) -> Tensor:
        return functional_call(self._skeleton, (params, buffers), (x,))

    def _split(self, state: Mapping[str, Tensor] | None, detach: bool) -> tuple[State, State]:
        if state is None:
            state = self.current_state(detach=detach)
        else:
            # A snapshot may be stored elsewhere (CPU) or in reduced precision (the bank's option): it is
            # evaluated on the live weights' device and in their precision.
            live = self.current_state()
            state = {n: t.to(live[n].device, live[n].dtype) for n, t in state.items()}
        params = {n: state[n] for n in self.param_names}
        return params, {n: state[n] for n in self.buffer_names}

    def forward(
        self,
        x: Tensor,
        *,
        shared_input: bool = False,
        state: Mapping[str, Tensor] | None = None,
        detach: bool = False,
    ) -> Tensor:
        params, buffers = self._split(state, detach)
        # A snapshot is evaluated read-only: its running statistics must not drift (the bank keeps them).
        freeze = frozen_running_stats() if state is not None else nullcontext()
        with freeze:
            if self.vectorize and self.stacked_kernels:
                return stacked.run(self._skeleton, params | buffers, x, len(self), shared_input)
            if not self.vectorize:
                return torch.stack(
                    [
                        self._call(*self._copy(params, buffers, c), x if shared_input else x[c])
                        for c in range(len(self))
                    ]
                )
            return vmap(self._call, in_dims=(0, 0, None if shared_input else 0))(params, buffers, x)

    def cross(self, x: Tensor, *, state: Mapping[str, Tensor] | None = None, detach: bool = False) -> Tensor:
        params, buffers = self._split(state, detach)
        if self.vectorize and self.stacked_kernels:
            with batch_groups(x.shape[0]):
                out = stacked.run(self._skeleton, params | buffers, x.flatten(0, 1), len(self), True)
            return out.unflatten(1, x.shape[:2])
        # The G batches are folded into one batch whose batch norm keeps per-batch statistics; the copies
        # (the few discriminators) are looped. No vmap here: each copy runs dense kernels over all G x B
        # examples, and autograd skips gradients nobody needs (constant weights in the generator step,
        # data inputs in the discriminator step), which vmap's convolution rule would compute anyway.
        outputs = []
        for c in range(len(self)):
            copy_state = self._copy(params, buffers, c)
            if self.vectorize:
                with batch_groups(x.shape[0]):
                    outputs.append(self._call(*copy_state, x.flatten(0, 1)).unflatten(0, x.shape[:2]))
            else:
                with frozen_running_stats():
                    outputs.append(self._each_batch(*copy_state, x))
        return torch.stack(outputs)

    def shared_and_cross(self, shared: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(self(shared, shared_input=True), self.cross(x))``, in one pass when no layer looks across
        examples (``fuses_batches``; then the batches' grouping cannot matter): one kernel per layer
        instead of two, the toy iteration's discriminator step."""
        if not self.fuses_batches:
            return self(shared, shared_input=True), self.cross(x)
        both = self(torch.cat([shared, x.flatten(0, 1)]), shared_input=True)
        n = shared.shape[0]
        return both[:, :n], both[:, n:].unflatten(1, x.shape[:2])

    def features(
        self, x: Tensor, *, shared_input: bool = False, cross: bool = False, detach: bool = False
    ) -> Tensor:
        """The outputs of every layer but the last (same call conventions as ``forward`` / ``cross``)."""
        with self._without_last_layer():
            if cross:
                return self.cross(x, detach=detach)
            return self(x, shared_input=shared_input, detach=detach)

    @contextmanager
    def _without_last_layer(self) -> Iterator[None]:
        skeleton, names = self._skeleton, (self.param_names, self.buffer_names)
        if not isinstance(skeleton, nn.Sequential) or len(skeleton) < 2:
            raise ValueError(
                f"penultimate features need a network built as nn.Sequential whose last layer gives the "
                f"outputs; this model's is a {type(skeleton).__name__}"
            )
        body = skeleton[:-1]  # the same submodules, under the same names
        kept = set(body.state_dict())
        object.__setattr__(self, "_skeleton", body)
        self.param_names = [n for n in names[0] if n in kept]
        self.buffer_names = [n for n in names[1] if n in kept]
        try:
            yield
        finally:
            object.__setattr__(self, "_skeleton", skeleton)
            self.param_names, self.buffer_names = names

    def _each_batch(self, params: State, buffers: State, x: Tensor) -> Tensor:
        return torch.stack([self._call(params, buffers, batch) for batch in x])

    def __len__(self) -> int:
        return self.num_copies

    @staticmethod
    def _copy(params: State, buffers: State, index: int) -> tuple[State, State]:
        # Views into the stacked tensors: gradients and running-statistics updates reach the right copy.
        return {n: t[index] for n, t in params.items()}, {n: t[index] for n, t in buffers.items()}
