"""The module walks transformers' Trainer repeats every step, answered from lists taken once.

On a small GPU step the time is host overhead, and part of it is the Trainer walking the
whole module tree (~1,340 modules on a 16-layer Llama with LoRA on every linear layer)
for answers that cannot change while it trains: ``model.train()`` at every micro-batch,
``model.parameters()`` for ``clip_grad_norm_`` and again for ``model.zero_grad()`` at
every step, and ``num_parameters()`` (two more walks) for its FLOP count at every
micro-batch. ``scripts/profile_step_overhead.py`` measures them.

``StepWalks`` gives the model the training loop drives, for one ``Trainer.train`` call,
its own ``train`` and ``parameters``, and keeps the parameter count:

- ``train(True)`` returns at once when every module is already in training mode; else
  (after an evaluation, a sample, anything that switched a module to eval) the real walk
  runs. On a module already training, ``Module.train(True)`` only sets the flag it has;
  transformers' override acts only on a change of mode, and peft's DoRA clears a cache
  that is filled only in eval mode. ``train(False)``/``eval()`` are untouched.
- ``parameters()`` yields the list taken when the run's first step began: the same
  parameters in the same order, as long as none is added or replaced while training
  (nothing in a run does; a resumed checkpoint is loaded into them in place, before).
- the parameter count for the FLOP estimate is taken once.

Not under FSDP or DeepSpeed: their wrappers own the parameters and gather or flatten them.
"""

from __future__ import annotations

from operator import attrgetter

import torch

_training = attrgetter("training")


class StepWalks:
    def __init__(self) -> None:
        self.model: torch.nn.Module | None = None
        self._counted: tuple[torch.nn.Module, int] | None = None

    def attach(self, model: torch.nn.Module) -> None:
        """Serve ``model``'s per-step walks from lists taken now (again if it is a new model)."""
        if model is self.model:
            return
        self.detach()
        modules = list(model.modules())
        parameters = list(model.parameters())
        real_train = model.train
        real_parameters = model.parameters

        def train(mode: bool = True):
            if mode is True and all(map(_training, modules)):
                return model
            return real_train(mode)

        def cached_parameters(recurse: bool = True):
            return iter(parameters) if recurse else real_parameters(recurse)

        # Instance attributes shadow the class's methods for this model alone (accelerate
        # wraps ``forward`` the same way); detach() removes them.
        vars(model).update(train=train, parameters=cached_parameters)
        self.model = model

    def detach(self) -> None:
        """Give the model its own methods back; forget the parameter count."""
        if self.model is not None:
            for name in ("train", "parameters"):
                vars(self.model).pop(name, None)
        self.model = None
        self._counted = None

    def parameter_count(self, model) -> int:
        """``model.num_parameters(exclude_embeddings=True)``, counted once per run."""
        if self._counted is None or self._counted[0] is not model:
            self._counted = (model, model.num_parameters(exclude_embeddings=True))
        return self._counted[1]
