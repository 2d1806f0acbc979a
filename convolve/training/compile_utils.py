"""What `compile(loss=..., metrics=...)` becomes: losses and metrics matched to outputs."""

from __future__ import annotations

from typing import Any

import torch

from convolve import _tree


def _per_output(spec: Any, output_names: list[str], what: str) -> list[Any]:
    """Spreads a compile argument over the outputs: one for all, a list, or a dict by name."""
    n = len(output_names)
    if isinstance(spec, dict):
        unknown = set(spec) - set(output_names)
        if unknown:
            raise ValueError(
                f"compile: `{what}` names outputs {sorted(unknown)}, but the model's outputs "
                f"are {output_names}."
            )
        return [spec.get(name) for name in output_names]
    if isinstance(spec, list | tuple) and n == 1 and len(spec) == 1:
        return [spec[0]]  # one output may take its argument in a list too, as in Keras
    if isinstance(spec, list | tuple) and n > 1:
        if len(spec) != n:
            raise ValueError(
                f"compile: `{what}` has {len(spec)} entries for a model with {n} outputs "
                f"({output_names})."
            )
        return list(spec)
    return [spec] * n


class CompiledLoss:
    """The weighted sum of one loss per output, with per-output trackers when there are many.

    As in Keras, an output whose loss is None gets no tracker, and a model with one loss
    in all gets none; the trackers are listed in `model.metrics` once the losses are
    resolved (at the first batch), in the outputs' order, or, for a model whose outputs
    are a dict, in the order of the loss dict's keys.
    """

    def __init__(
        self, loss: Any, loss_weights: Any, output_names: list[str], dict_outputs: bool = False
    ) -> None:
        from convolve import losses, metrics

        self.output_names = output_names
        if isinstance(loss, dict) and len(output_names) > 1 and not dict_outputs:
            if set(loss) != set(output_names):  # Keras's rule for a list of outputs
                raise ValueError(
                    f"compile: expected keys {output_names} in the `loss` dict (one per "
                    f"output), but found loss.keys()={list(loss)}."
                )
        self._specs = _per_output(loss, output_names, "loss")
        for spec in self._specs:  # unknown names fail at compile time, not at step one
            if spec is not None and str(spec).lower() not in ("crossentropy", "ce"):
                losses.get(spec)
        self.losses: list[Any] = [None] * len(output_names)
        self._resolved = False
        if loss_weights is None:
            self.weights = [1.0] * len(output_names)
        else:
            weights = _per_output(loss_weights, output_names, "loss_weights")
            self.weights = [1.0 if w is None else float(w) for w in weights]
        self.has_loss = any(spec is not None for spec in self._specs)
        with_loss = [i for i, spec in enumerate(self._specs) if spec is not None]
        self._trackers: list[Any] = [None] * len(output_names)
        if len(with_loss) > 1:
            for i in with_loss:
                self._trackers[i] = metrics.Mean(name=f"{output_names[i]}_loss")

        # A dict of outputs lists its losses in the order of the loss dict's keys.
        keys = list(loss) if isinstance(loss, dict) and dict_outputs else []
        rank = {name: keys.index(name) if name in keys else len(keys) for name in output_names}
        named = [(n, t) for n, t in zip(output_names, self._trackers, strict=True) if t]
        self._listed = [tracker for _, tracker in sorted(named, key=lambda p: rank[p[0]])]

    @property
    def metrics(self) -> list[Any]:
        return list(self._listed) if self._resolved else []

    def results(self) -> dict[str, torch.Tensor]:
        return {t.name: t.result() for t in self._listed} if self._resolved else {}

    def _lists(self, y_true: Any, y_pred: Any) -> tuple[list[Any], list[Any]]:
        """Per-output targets and predictions; resolves the losses on first use."""
        y_true_list = self.targets(y_true)
        y_pred_list = _as_list(y_pred, self.output_names)
        for name, spec, t in zip(self.output_names, self._specs, y_true_list, strict=True):
            if spec is not None and t is None:
                got = sorted(y_true) if isinstance(y_true, dict) else type(y_true).__name__
                raise ValueError(
                    f"No targets for output '{name}', which has a loss: y must hold targets "
                    f"for the outputs {self.output_names}; received y={got}."
                )
        if not self._resolved:
            from convolve.losses import resolve_loss

            # Strings become Loss objects once shapes are known, as Keras resolves them.
            self.losses = [
                None if spec is None else resolve_loss(spec, t, p)
                for spec, t, p in zip(self._specs, y_true_list, y_pred_list, strict=True)
            ]
            self._resolved = True
        return y_true_list, y_pred_list

    def targets(self, y_true: Any) -> list[Any]:
        """`y_true` as one entry per output (None where it holds no target), by Keras's
        rules: a dict by output name; a list or tuple in the outputs' order, or with one
        target per output that has a loss; one array for a model of one output, or for a
        model with one loss. Anything else is refused."""
        names = self.output_names
        if len(names) == 1 or isinstance(y_true, dict):
            if isinstance(y_true, dict) and len(names) > 1:
                unknown = [key for key in y_true if key not in names]
                if unknown:
                    raise ValueError(
                        f"y holds targets for {unknown}, which are not outputs of the model; "
                        f"its outputs are {names}. Received y with keys {list(y_true)}."
                    )
            return _as_list(y_true, names)
        given = list(y_true) if isinstance(y_true, list | tuple) else [y_true]
        if len(given) == len(names):
            return given
        with_loss = [i for i, spec in enumerate(self._specs) if spec is not None]
        if len(given) == len(with_loss):  # targets only for the outputs that have a loss
            placed: list[Any] = [None] * len(names)
            for i, target in zip(with_loss, given, strict=True):
                placed[i] = target
            return placed
        kind = type(y_true).__name__
        what = f"a {kind} of {len(given)}" if isinstance(y_true, list | tuple) else "one array"
        raise ValueError(
            f"y does not match the model's outputs: the model has {len(names)} outputs "
            f"{names} ({len(with_loss)} with a loss), and y is {what}. Pass one target per "
            "output, as a list in the outputs' order or a dict keyed by output name."
        )

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> torch.Tensor:
        y_true_list, y_pred_list = self._lists(y_true, y_pred)
        weights = _as_list(sample_weight, self.output_names) if sample_weight is not None else None
        total = None
        for i, fn in enumerate(self.losses):
            if fn is None:
                continue
            sw = None if weights is None else weights[i]
            value = fn(y_true_list[i], y_pred_list[i], sample_weight=sw)
            tracker = self._trackers[i]
            if tracker is not None:  # a batch's mean counts once per sample, as the total's
                batch = _tree.flatten(y_pred_list[i])[0].shape[0]
                tracker.update_state(value.detach(), sample_weight=batch)
            value = value * self.weights[i] if self.weights[i] != 1.0 else value
            total = value if total is None else total + value
        return total

    def check_targets(self, y_true: Any, y_pred: Any) -> None:
        """Validates labels against outputs once, before training (needs a host sync)."""
        from convolve import losses

        y_true_list, y_pred_list = self._lists(y_true, y_pred)
        for fn, t, p in zip(self.losses, y_true_list, y_pred_list, strict=False):
            if fn is not None and t is not None:
                losses.check_targets(fn, t, p)


def _as_list(structure: Any, output_names: list[str]) -> list[Any]:
    if isinstance(structure, dict):
        return [structure.get(name) for name in output_names]
    if len(output_names) == 1:
        one = isinstance(structure, list | tuple) and len(structure) == 1
        return [structure[0] if one else structure]
    if isinstance(structure, list | tuple):
        return list(structure)
    return [structure] * len(output_names)


class CompileMetrics:
    """Metrics per output, resolved from strings on the first batch as Keras does.

    Like Keras's `CompileMetrics`, it is one entry of `model.metrics`, named
    "compile_metrics", whose `result()` is a dict; a custom `train_step` may call its
    `update_state(y, y_pred)` like any metric's, and it builds on that first call.
    """

    name = "compile_metrics"

    def __init__(
        self,
        metrics: Any,
        weighted_metrics: Any,
        output_names: list[str],
        compiled_loss: CompiledLoss,
    ) -> None:
        self.output_names = output_names
        self.given = metrics is not None or weighted_metrics is not None
        self._specs = _metric_specs(metrics, output_names, "metrics")
        self._weighted_specs = _metric_specs(weighted_metrics, output_names, "weighted_metrics")
        self._compiled_loss = compiled_loss
        self._metrics: list[list[Any]] | None = None
        self._weighted: list[list[Any]] | None = None
        self._keys: list[str] = []

    @property
    def metrics(self) -> list[Any]:
        if self._metrics is None:
            return []
        return [m for group in self._metrics + self._weighted for m in group]  # type: ignore[operator]

    @property
    def variables(self) -> list[Any]:
        return [v for m in self.metrics for v in m.variables]

    def _build(self, y_true: list[Any], y_pred: list[Any]) -> None:
        from convolve.metrics import resolve_metric

        def resolve(specs: list[list[Any]]) -> list[list[Any]]:
            return [
                [
                    resolve_metric(spec, y_true[i], y_pred[i], self._compiled_loss.losses[i])
                    for spec in group
                ]
                for i, group in enumerate(specs)
            ]

        self._metrics = resolve(self._specs)
        self._weighted = resolve(self._weighted_specs)
        self._keys = self._log_names()

    def _log_names(self) -> list[str]:
        """Each metric's name in the logs, by Keras's rules: prefixed by its output's name
        when there are several outputs; a repeated name gets `_1`, `_2`, ...; a weighted
        metric whose name is taken becomes `weighted_<name>`."""
        keys: list[str] = []
        seen: dict[str, int] = {}

        def numbered(name: str) -> str:
            if name not in seen:
                seen[name] = 1
                return name
            seen[name] += 1
            return f"{name}_{seen[name] - 1}"

        for weighted, groups in ((False, self._metrics), (True, self._weighted)):
            for i, group in enumerate(groups):  # type: ignore[arg-type]
                prefix = f"{self.output_names[i]}_" if len(self.output_names) > 1 else ""
                for metric in group:
                    name = prefix + metric.name
                    if weighted and name in seen:
                        name = prefix + f"weighted_{metric.name}"
                    keys.append(numbered(name))
        return keys

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        t = self._compiled_loss.targets(y_true)
        p = _as_list(y_pred, self.output_names)
        if self._metrics is None:
            self._build(t, p)
        sw = _as_list(sample_weight, self.output_names) if sample_weight is not None else None
        for i, group in enumerate(self._metrics):  # type: ignore[arg-type]
            for metric in group:
                metric.update_state(t[i], p[i])
        for i, group in enumerate(self._weighted):  # type: ignore[arg-type]
            for metric in group:
                metric.update_state(t[i], p[i], sample_weight=None if sw is None else sw[i])

    def reset_state(self) -> None:
        for metric in self.metrics:
            metric.reset_state()

    def result(self) -> dict[str, torch.Tensor]:
        return {k: result_tensor(m.result()) for k, m in zip(self._keys, self.metrics, strict=True)}


def result_tensor(value: Any) -> torch.Tensor:
    """A metric's result as a tensor: a custom `result()` may return its state variable
    (as Keras's guide does) or a Python number."""
    if isinstance(value, torch.Tensor):
        return value
    value = getattr(value, "value", value)  # a MetricVariable: its state, copied
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    return torch.as_tensor(value, dtype=torch.float32)


def _metric_specs(metrics: Any, output_names: list[str], what: str) -> list[list[Any]]:
    """Keras's reading of `metrics` (or `weighted_metrics`): for one output, every metric
    given; for several, a list with one entry (a metric, a list or None) per output, or
    a dict by output name."""
    n = len(output_names)
    if metrics is None:
        return [[] for _ in range(n)]
    if not isinstance(metrics, list | tuple | dict):
        raise ValueError(
            f"Expected `{what}` argument to be a list, tuple, or dict. Received instead: "
            f"{what}={metrics!r} of type {type(metrics)}"
        )
    if isinstance(metrics, dict):
        per = _per_output(metrics, output_names, what)
        return [_tree.flatten(m) if m is not None else [] for m in per]
    if n == 1:
        return [[m for m in _tree.flatten(list(metrics)) if m is not None]]
    if len(metrics) != n:
        raise ValueError(
            f"compile: `{what}` must be a dict or a list with one entry per output "
            f"({n}: {output_names}), each a metric, a list of metrics or None; received "
            f"{what}={metrics!r}"
        )
    return [_tree.flatten(m) if m is not None else [] for m in metrics]


class CompiledStep:
    """A train/test/predict step run through `torch.compile`, without recompiling per step.

    The step is compiled for static shapes, for batches as large as the first one; a batch
    of another size (the final partial batch of an epoch) runs the step eagerly instead
    of triggering a second compilation. Graph breaks where the step cannot be traced
    (`loss.backward()`, the optimizer's update, which stays eager by design) split it
    into compiled pieces around them.

    With CUDA graphs (`mode="reduce-overhead"` or `"max-autotune"`), each call starts a
    new graph step and its outputs are copied out of the graph's memory, which the next
    replay overwrites while callbacks may still hold the previous step's logs.

    Args:
        step: The bound step method.
        options: Keyword arguments for `torch.compile` (`dynamic=False` unless given).
    """

    def __init__(self, step: Any, options: dict[str, Any]) -> None:
        self.eager = step
        self.compiled = torch.compile(step, **{"dynamic": False, **options})
        self.cuda_graphs = options.get("mode") in ("reduce-overhead", "max-autotune")
        self.batch_size: int | None = None

    def __call__(self, data: Any) -> Any:
        leaves = _tree.flatten(data)
        size = int(leaves[0].shape[0]) if leaves and hasattr(leaves[0], "shape") else None
        if self.batch_size is None:
            self.batch_size = size
        if size != self.batch_size:
            return self.eager(data)
        if not self.cuda_graphs:
            return self.compiled(data)
        torch.compiler.cudagraph_mark_step_begin()
        outputs = self.compiled(data)
        return _tree.map_structure(
            lambda v: v.clone() if isinstance(v, torch.Tensor) else v, outputs
        )
