"""The course's sample models and a name registry.

Convention shared by every model here (and expected of models registered later, though ``train``/``scoring``
fall back gracefully for plain modules that lack them):

* input and output images are float ``(B, 3, 64, 64)`` in [-1, 1] (the fcn model flattens internally);
* ``model.reconstruct(x) -> (B, 3, 64, 64)``: the image used for anomaly scoring;
* ``model.loss(x) -> scalar tensor``: the training loss for a batch ``x``;
* ``forward`` stays the course's (the VAE's returns ``(recon, mu, logvar)``), so the course's checkpoints load
  into these classes (same submodule names: ``encoder``, ``decoder``, ``enc_out_1``, ``enc_out_2``).

>>> build_model("cnn")(torch.zeros(2, 3, 64, 64)).shape
torch.Size([2, 3, 64, 64])
>>> build_model("transformer")
Traceback (most recent call last):
...
starter_code.models.UnknownModelError: unknown model 'transformer'; valid names: ...cnn, fcn...
"""
from __future__ import annotations

import inspect
from typing import Callable

import torch  # noqa: F401  (the docstring example uses it)
from torch import nn

from common.errors import KitError
from starter_code.config import check_keys
from starter_code.models.conv import ConvAutoencoder
from starter_code.models.fcn import FCNAutoencoder
from starter_code.models.vae import VAE, vae_loss

#: The course's model types that ship with the kit ('resnet' is left to the medium/strong stages to register).
MODEL_NAMES: tuple[str, ...] = ("fcn", "cnn", "vae")

_REGISTRY: dict[str, Callable[..., nn.Module]] = {
    "fcn": FCNAutoencoder,
    "cnn": ConvAutoencoder,
    "vae": VAE,
}


class UnknownModelError(KitError, ValueError):
    """``build_model`` was given a name that is not registered; the message lists the valid names."""


def register_model(name: str, factory: Callable[..., nn.Module] | None = None, *, replace: bool = False):
    """Add a model family under ``name``; usable as ``register_model("resnet", MyNet)`` or as a class decorator.

    Re-registering an existing name raises unless ``replace=True`` (so two stages cannot silently clash).
    """
    def add(f):
        if not name or not isinstance(name, str):
            raise ValueError(f"model name must be a non-empty string, got {name!r}")
        if name in _REGISTRY and not replace and _REGISTRY[name] is not f:
            raise ValueError(f"model name {name!r} is already registered (to {_REGISTRY[name].__name__}); "
                             f"pass replace=True to override")
        _REGISTRY[name] = f
        return f

    return add if factory is None else add(factory)


def available_models() -> tuple[str, ...]:
    """Names ``build_model`` accepts right now (built-ins plus anything registered), sorted."""
    return tuple(sorted(_REGISTRY))


def model_name(model: nn.Module) -> str | None:
    """The registered name whose factory built ``model`` (its class), or ``None`` for a model of one's own."""
    return next((name for name, factory in _REGISTRY.items() if type(model) is factory), None)


def build_model(name: str, **kwargs) -> nn.Module:
    """A fresh model of family ``name`` (see ``available_models()``), built with ``kwargs``; a keyword the
    family does not take raises ``ConfigKeyError`` listing the ones it does."""
    try:
        factory = _REGISTRY[name]
    except (KeyError, TypeError):
        raise UnknownModelError(f"unknown model {name!r}; valid names: {', '.join(available_models())}") from None
    params = inspect.signature(factory).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        check_keys(kwargs, params, f"model {name!r}")
    return factory(**kwargs)


__all__ = ["MODEL_NAMES", "FCNAutoencoder", "ConvAutoencoder", "VAE", "vae_loss", "build_model", "register_model",
           "available_models", "model_name", "UnknownModelError"]
