"""`MultiOptimizer`: different optimizers for different weights, chosen by weight path."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping, Sequence
from typing import Any

import torch

from convolve.optimizers.base import Optimizer, Tensor

__all__ = ["MultiOptimizer", "OptimizerMap"]


def _is_loss_scale_optimizer(optimizer: Any) -> bool:
    from convolve.mixed_precision import LossScaleOptimizer

    return isinstance(optimizer, LossScaleOptimizer)


def _path_of(variable: Any, fallback: str | None = None) -> str:
    path = getattr(variable, "path", None)
    if isinstance(path, str):
        return path
    return fallback or ""


class OptimizerMap(MutableMapping):
    """Maps weight paths (exact strings or regular expressions) to optimizers.

    A key first matches a path exactly; otherwise every key is tried as a regular
    expression with `re.fullmatch`. A path that no key matches gets `default_optimizer`;
    one that several patterns match is an error.

    Args:
        default_optimizer: The optimizer of every weight no key matches.
        optimizer_map: Optional dict from path (or pattern) to optimizer.

    Example:
        >>> from convolve import optimizers
        >>> opt_map = optimizers.OptimizerMap(optimizers.SGD(name="sgd"))
        >>> opt_map["encoder/.*"] = optimizers.Adam(name="adam")
        >>> opt_map["encoder/dense/kernel"].name, opt_map["decoder/dense/kernel"].name
        ('adam', 'sgd')
    """

    def __init__(
        self, default_optimizer: Optimizer, optimizer_map: dict[str, Optimizer] | None = None
    ) -> None:
        if not isinstance(default_optimizer, Optimizer):
            raise TypeError(
                "OptimizerMap: `default_optimizer` must be an Optimizer instance; received "
                f"default_optimizer={default_optimizer!r}"
            )
        if optimizer_map is not None and not isinstance(optimizer_map, dict):
            raise TypeError(
                "OptimizerMap: `optimizer_map` must be a dict; received "
                f"optimizer_map={optimizer_map!r}"
            )
        self._default_optimizer = default_optimizer
        self._optimizer_map: dict[str, Optimizer] = {}
        for key, optimizer in (optimizer_map or {}).items():
            self[key] = optimizer

    @property
    def default_optimizer(self) -> Optimizer:
        return self._default_optimizer

    def __getitem__(self, key: str) -> Optimizer:
        if key in self._optimizer_map:
            return self._optimizer_map[key]
        matches = [p for p in self._optimizer_map if re.fullmatch(p, key)]
        if len(matches) > 1:
            raise ValueError(
                f"Multiple optimizers assigned to variable {key}: patterns {matches} all match."
            )
        if matches:
            return self._optimizer_map[matches[0]]
        return self._default_optimizer

    def __setitem__(self, key: str, optimizer: Optimizer) -> None:
        if key in self._optimizer_map:
            raise ValueError(
                f"'{key}' already exists in the OptimizerMap with value "
                f"{self._optimizer_map[key]}. Please make sure to not use duplicated keys."
            )
        if not isinstance(key, str):
            raise ValueError(f"OptimizerMap: key must be a string; received key={key!r}")
        if not isinstance(optimizer, Optimizer):
            raise ValueError(
                "OptimizerMap: optimizer must be an Optimizer instance; received "
                f"optimizer={optimizer!r}"
            )
        if _is_loss_scale_optimizer(optimizer):
            raise ValueError("OptimizerMap: optimizer cannot be LossScaleOptimizer.")
        if isinstance(optimizer, MultiOptimizer):
            raise ValueError("OptimizerMap: optimizer cannot be MultiOptimizer.")
        self._optimizer_map[key] = optimizer

    def __delitem__(self, key: str) -> None:
        del self._optimizer_map[key]

    def __len__(self) -> int:
        return len(self._optimizer_map)

    def __iter__(self) -> Iterator[str]:
        return iter(self._optimizer_map)

    def __call__(self, variable: Any) -> Optimizer:
        return self[_path_of(variable)]

    def get_config(self) -> dict[str, Any]:
        from convolve import optimizers

        return {
            "default_optimizer": optimizers.serialize(self._default_optimizer),
            "optimizer_map": {k: optimizers.serialize(v) for k, v in self._optimizer_map.items()},
        }

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], custom_objects: Mapping[str, type] | None = None
    ) -> OptimizerMap:
        from convolve import optimizers

        default = optimizers.deserialize(config["default_optimizer"], custom_objects)
        mapping = {
            k: optimizers.deserialize(v, custom_objects)
            for k, v in (config.get("optimizer_map") or {}).items()
        }
        return cls(default, mapping)


class MultiOptimizer(Optimizer):
    """Delegates each weight to the optimizer an `OptimizerMap` (or a function) picks.

    Each inner optimizer keeps its own learning rate, iteration count and state, and
    steps only its own weights; `MultiOptimizer.iterations` counts the steps of the
    whole. As in Keras, `learning_rate` is not available on a MultiOptimizer: read or
    set it on `optimizers`.

    Args:
        optimizer_map: An `OptimizerMap`, or a function from a weight (with its `path`)
            to an optimizer.
        loss_scale_factor: Overrides the `loss_scale_factor` of the inner optimizers.
        name: Name of the optimizer. Defaults to "multi_optimizer".

    Example:
        >>> import convolve as keras
        >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="out")])
        >>> opt = keras.optimizers.MultiOptimizer(keras.optimizers.OptimizerMap(
        ...     keras.optimizers.SGD(), {".*/bias": keras.optimizers.Adam()}))
        >>> opt.build(model.trainable_weights)
        >>> [type(o).__name__ for o in opt.optimizers]
        ['Adam', 'SGD']
    """

    def __init__(
        self,
        optimizer_map: OptimizerMap | Callable[[Tensor], Optimizer],
        loss_scale_factor: float | None = None,
        name: str | None = None,
    ) -> None:
        if not (isinstance(optimizer_map, OptimizerMap) or callable(optimizer_map)):
            raise ValueError(
                "MultiOptimizer: `optimizer_map` must be an OptimizerMap or a function from a "
                f"variable to an optimizer; received optimizer_map={optimizer_map!r}"
            )
        self._inner_optimizers: list[Optimizer] = []
        super().__init__(learning_rate=0.0, loss_scale_factor=loss_scale_factor, name=name)
        self._optimizer_map = optimizer_map
        inner: list[Optimizer] = []
        if isinstance(optimizer_map, OptimizerMap):
            inner.extend(optimizer_map.values())
            inner.append(optimizer_map.default_optimizer)
        for opt in inner:
            if not any(opt is o for o in self._inner_optimizers):
                opt.loss_scale_factor = loss_scale_factor
                self._inner_optimizers.append(opt)
        self._owner: list[int] = []  # per own parameter: index of its inner optimizer

    # --------------------------------------------------------------- attributes

    @property
    def optimizers(self) -> list[Optimizer]:
        """The inner optimizers, in the order their variables are listed."""
        return self._inner_optimizers

    @property
    def learning_rate(self) -> Any:
        raise AttributeError(
            "Learning rate cannot be accessed on a MultiOptimizer. "
            "Access the learning rate on the individual sub-optimizers instead."
        )

    @learning_rate.setter
    def learning_rate(self, value: Any) -> None:
        raise AttributeError(
            "Learning rate cannot be set on a MultiOptimizer. "
            "Set the learning rate on the individual sub-optimizers instead."
        )

    @property
    def loss_scale_factor(self) -> float | None:
        return self.__dict__.get("_loss_scale_factor")

    @loss_scale_factor.setter
    def loss_scale_factor(self, value: float | None) -> None:
        self._loss_scale_factor = value
        for opt in self.__dict__.get("_inner_optimizers", []):
            opt.loss_scale_factor = value

    # -------------------------------------------------------------------- build

    def _index_of(self, opt: Optimizer) -> int:
        for i, o in enumerate(self._inner_optimizers):
            if o is opt:
                return i
        return -1

    def build(self, variables: Iterable[Tensor] | Iterable[tuple[str, Tensor]]) -> None:
        """Asks the map for each weight's optimizer and builds each on its weights."""
        if self.built:
            super().build(variables)  # only checks that the parameters are known
            return
        params, names = self._as_param_list(variables)
        groups: list[list[Any]] = [[] for _ in self._inner_optimizers]
        owner: list[int] = []
        seen: set[int] = set()
        for p, n in zip(params, names, strict=True):
            if id(p) in seen:
                continue
            seen.add(id(p))
            if isinstance(self._optimizer_map, OptimizerMap):
                opt = self._optimizer_map[_path_of(p, n)]
            else:
                opt = self._optimizer_map(p)
            if not isinstance(opt, Optimizer):
                raise ValueError(
                    f"MultiOptimizer: the optimizer for variable {_path_of(p, n)!r} is not an "
                    f"Optimizer instance; received {opt!r}"
                )
            if _is_loss_scale_optimizer(opt):
                raise ValueError("LossScaleOptimizer cannot be used inside an MultiOptimizer.")
            if isinstance(opt, MultiOptimizer):
                raise ValueError("MultiOptimizer cannot be used inside an MultiOptimizer.")
            k = self._index_of(opt)
            if k < 0:
                opt.loss_scale_factor = self.loss_scale_factor
                self._inner_optimizers.append(opt)
                groups.append([])
                k = len(self._inner_optimizers) - 1
            groups[k].append(p if n is None else (n, p))
            owner.append(k)
        for opt, group in zip(self._inner_optimizers, groups, strict=True):
            if group:
                opt.build(group)
        super().build([p if n is None else (n, p) for p, n in zip(params, names, strict=True)])
        self._owner = owner

    # ------------------------------------------------------------------ updates

    def _dispatch(self, pairs: Sequence[tuple[Tensor | None, int]]) -> None:
        grouped: list[tuple[list[Any], list[Tensor]]] = [([], []) for _ in self._inner_optimizers]
        for g, i in pairs:
            grads, params = grouped[self._owner[i]]
            grads.append(g)
            params.append(self._params[i])
        if all(g is None for g, _ in pairs):
            raise ValueError("No gradients provided for any variable.")
        for opt, (grads, params) in zip(self._inner_optimizers, grouped, strict=True):
            if any(g is not None for g in grads):
                opt.apply(grads, params)
        self._iterations += 1

    @torch.compiler.disable
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Applies one update from each built parameter's `.grad`, through its optimizer."""
        loss = self._begin_step(closure)
        pairs = [(p.grad, i) for i, p in enumerate(self._params) if p.grad is not None]
        if not pairs:
            raise ValueError("No gradients provided for any variable.")
        with torch.no_grad():
            self._dispatch(pairs)
        return loss

    @torch.compiler.disable
    def apply(
        self, grads: Sequence[Tensor | None], trainable_variables: Iterable[Tensor] | None = None
    ) -> None:
        """Applies gradients, each through the optimizer of its parameter."""
        grads = list(grads)
        if not grads:
            return
        if trainable_variables is None:
            self._require_built_for_bare_grads()
            params = list(self._params)
        else:
            params, names = self._as_param_list(trainable_variables)
            if not self.built:
                self.build([p if n is None else (n, p) for p, n in zip(params, names, strict=True)])
        if len(grads) != len(params):
            raise ValueError(
                "Gradients must match trainable variables one-to-one. "
                f"Received {len(grads)} gradients and {len(params)} variables."
            )
        pairs = []
        for g, p in zip(grads, params, strict=True):
            if id(p) not in self._index:
                raise ValueError(
                    f"Unknown variable of shape {tuple(p.shape)}: MultiOptimizer '{self.name}' "
                    "can only update the parameters it was built with."
                )
            pairs.append((g, self._index[id(p)]))
        self._dispatch(pairs)

    def finalize_variable_values(self, var_list: Sequence[Tensor] | None = None) -> None:
        """Lets each inner optimizer finalize its own weights (e.g. copy EMA values)."""
        for opt in self._inner_optimizers:
            if opt.built:
                opt.finalize_variable_values()

    # -------------------------------------------------------------------- state

    @property
    def variables(self) -> list[Tensor]:
        """Its own iteration count and learning rate, then each inner optimizer's."""
        own = Optimizer.variables.fget(self)  # type: ignore[attr-defined]
        for opt in self._inner_optimizers:
            own.extend(opt.variables)
        return own

    def set_weights(self, weights: Sequence[Any]) -> None:
        if not self.built:
            raise ValueError(
                "You are calling `set_weights()` on an optimizer that has not yet been "
                "built. Call `optimizer.build(params)` first."
            )
        counts = [len(opt.variables) for opt in self._inner_optimizers]
        own = len(self._handles())
        if len(weights) != own + sum(counts):
            raise ValueError(
                f"MultiOptimizer '{self.name}' has {own + sum(counts)} variables; received "
                f"{len(weights)} weights."
            )
        Optimizer.set_weights(self, list(weights[:own]))
        start = own
        for opt, count in zip(self._inner_optimizers, counts, strict=True):
            if count:
                if opt.built:
                    opt.set_weights(list(weights[start : start + count]))
                start += count

    def load_own_variables(self, store: Mapping[str, Any]) -> None:
        count = len(self.variables)
        if len(store.keys()) != count:
            import warnings

            warnings.warn(
                f"Skipping variable loading for optimizer '{self.name}', because it has "
                f"{count} variables whereas the saved optimizer has {len(store.keys())} "
                "variables.",
                stacklevel=2,
            )
            return
        self.set_weights([store[str(i)] for i in range(count)])

    def state_dict(self) -> dict[str, Any]:
        """The iteration count and every inner optimizer's `state_dict()`.

        "variables" lists every inner state tensor, named `"<index>/<slot>"` with the
        index of its parameter among this optimizer's parameters.
        """
        inner = [opt.state_dict() for opt in self._inner_optimizers]
        variables: dict[str, Tensor] = {}
        for opt, state in zip(self._inner_optimizers, inner, strict=True):
            for name, tensor in state.get("variables", {}).items():
                head, _, slot = name.partition("/")
                if slot and head.isdigit() and int(head) < len(opt._params):
                    index = self._index.get(id(opt._params[int(head)]))
                    name = f"{index}/{slot}" if index is not None else f"{opt.name}:{name}"
                else:
                    name = f"{opt.name}:{name}"
                variables[name] = tensor
        return {
            "class_name": "MultiOptimizer",
            "iterations": self._iterations,
            "learning_rate": None,
            "variables": variables,
            "optimizers": inner,
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        if not isinstance(state_dict, Mapping) or "optimizers" not in state_dict:
            keys = list(state_dict) if isinstance(state_dict, Mapping) else None
            raise ValueError(
                "MultiOptimizer.load_state_dict expects the output of `state_dict()`; "
                f"received a {type(state_dict).__name__} with keys {keys}."
            )
        inner = list(state_dict["optimizers"])
        if len(inner) != len(self._inner_optimizers):
            raise ValueError(
                f"MultiOptimizer '{self.name}' has {len(self._inner_optimizers)} optimizers; "
                f"received the state of {len(inner)}."
            )
        self._iterations = int(state_dict["iterations"])
        for opt, state in zip(self._inner_optimizers, inner, strict=True):
            opt.load_state_dict(state)

    # ------------------------------------------------------------ serialization

    def get_config(self) -> dict[str, Any]:
        if not isinstance(self._optimizer_map, OptimizerMap):
            raise ValueError(
                f"MultiOptimizer '{self.name}' was created with a function as its "
                f"`optimizer_map` ({self._optimizer_map!r}), which cannot be serialized; "
                "use an OptimizerMap."
            )
        return {
            "optimizer_map": {
                "module": "keras.optimizers",
                "class_name": "OptimizerMap",
                "config": self._optimizer_map.get_config(),
                "registered_name": None,
            },
            "loss_scale_factor": self.loss_scale_factor,
            "name": self.name,
        }

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], custom_objects: Mapping[str, type] | None = None
    ) -> MultiOptimizer:
        config = dict(config)
        spec = config.get("optimizer_map")
        if isinstance(spec, Mapping):
            if spec.get("class_name") != "OptimizerMap":
                raise ValueError(
                    "MultiOptimizer.from_config: `optimizer_map` must be a serialized "
                    f"OptimizerMap; received class_name={spec.get('class_name')!r}"
                )
            config["optimizer_map"] = OptimizerMap.from_config(
                spec.get("config") or {}, custom_objects
            )
        return cls(**config)

    def __repr__(self) -> str:
        inner = ", ".join(type(o).__name__ for o in self._inner_optimizers)
        return f"<MultiOptimizer name={self.name!r} optimizers=[{inner}]>"
