"""Normalization layers with Keras's defaults and weights: Batch, Layer and Group."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from convolve.config import epsilon
from convolve.layers import _conv_utils as cu
from convolve.layers import layout
from convolve.layers.base import Layer
from convolve.layers.batch_statistics import normalize_with_batch_statistics


class BatchNormalization(Layer):
    """Normalizes each channel with batch statistics in training, moving ones in inference.

    In training (`training=True` and `layer.trainable`), the output is
    `gamma * (x - mean) / sqrt(var + epsilon) + beta` with the batch's mean and biased
    variance, and the moving statistics become
    `moving = moving * momentum + batch_statistic * (1 - momentum)` (biased variance too, as
    in Keras; torch's own `BatchNorm` would use the unbiased one and the opposite momentum).
    Otherwise the moving statistics are used. A layer with `trainable=False` always runs in
    inference mode, which is what fine-tuning a pretrained network needs.

    Args:
        axis: the features axis of the (channels-last) input, `-1` by default.
        momentum: weight of the old value in the moving-average update.
        epsilon: added to the variance to avoid dividing by zero.
        center: whether to add the learned offset `beta`.
        scale: whether to multiply by the learned scale `gamma`.
        beta_initializer: initializer of `beta` (`"zeros"`).
        gamma_initializer: initializer of `gamma` (`"ones"`).
        moving_mean_initializer: initializer of the moving mean (`"zeros"`).
        moving_variance_initializer: initializer of the moving variance (`"ones"`).
        beta_regularizer: penalty on `beta`.
        gamma_regularizer: penalty on `gamma`.
        beta_constraint: projection applied to `beta` after each optimizer step.
        gamma_constraint: projection applied to `gamma` after each optimizer step.
        renorm: batch renormalization; only `False` is supported.
        renorm_clipping: accepted for Keras configs; unused without `renorm`.
        renorm_momentum: accepted for Keras configs; unused without `renorm`.
        synchronized: in a `torch.distributed` job, compute the batch statistics over the
            global batch (all processes) instead of each process's share.
        **kwargs: base layer arguments (`name`, `dtype`, `trainable`, `input_shape`, ...).

    Example:
        >>> import torch
        >>> from convolve.layers.normalization import BatchNormalization
        >>> bn = BatchNormalization()
        >>> x = torch.tensor([[0.0], [2.0]])
        >>> bn(x, training=True).flatten().tolist()  # (x - 1) / sqrt(1 + 0.001)
        [-0.9995003938674927, 0.9995003938674927]
        >>> [round(v, 4) for v in bn.moving_mean.tolist() + bn.moving_variance.tolist()]
        [0.01, 1.0]
    """

    _hands_on_masks = True
    _engine_layout = True
    min_input_ndim = 2

    def __init__(
        self,
        axis: int = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        moving_mean_initializer: Any = "zeros",
        moving_variance_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        beta_constraint: Any = None,
        gamma_constraint: Any = None,
        renorm: bool = False,
        renorm_clipping: dict[str, float] | None = None,
        renorm_momentum: float = 0.99,
        synchronized: bool = False,
        **kwargs: Any,
    ) -> None:
        check = cu.ArgumentErrors(type(self).__name__)
        if not cu.is_int(axis):
            check.add(f"axis must be an integer, received axis={axis!r}")
        args = {
            "axis": int(axis) if cu.is_int(axis) else -1,
            "momentum": check.number("momentum", momentum, low=0.0, high=1.0),
            "epsilon": check.number("epsilon", epsilon, low=0.0),
            "center": check.boolean("center", center),
            "scale": check.boolean("scale", scale),
            "beta_initializer": check.initializer("beta_initializer", beta_initializer),
            "gamma_initializer": check.initializer("gamma_initializer", gamma_initializer),
            "moving_mean_initializer": check.initializer(
                "moving_mean_initializer", moving_mean_initializer
            ),
            "moving_variance_initializer": check.initializer(
                "moving_variance_initializer", moving_variance_initializer
            ),
            "beta_regularizer": check.regularizer("beta_regularizer", beta_regularizer),
            "gamma_regularizer": check.regularizer("gamma_regularizer", gamma_regularizer),
            "beta_constraint": check.constraint("beta_constraint", beta_constraint),
            "gamma_constraint": check.constraint("gamma_constraint", gamma_constraint),
            "renorm": check.boolean("renorm", renorm),
            "renorm_clipping": renorm_clipping,
            "renorm_momentum": check.number("renorm_momentum", renorm_momentum, low=0.0, high=1.0),
            "synchronized": check.boolean("synchronized", synchronized),
        }
        if renorm is True:
            check.add(
                "renorm=True (batch renormalization) is not supported yet, received renorm=True"
            )
        check.raise_if_any()
        super().__init__(**kwargs)
        for key, value in args.items():
            setattr(self, key, value)

    # ----------------------------------------------------------------- shapes
    def _features(self, input_shape: tuple) -> int | None:
        rank = len(input_shape)
        if not -rank <= self.axis < rank or self.axis % rank == 0:
            raise ValueError(
                f"Layer '{self.name}' (BatchNormalization): axis={self.axis} must name a "
                f"non-batch axis of the input. Input shape received: {tuple(input_shape)}"
            )
        return input_shape[self.axis]

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        input_shape = tuple(input_shape)
        self._features(input_shape)
        return input_shape

    def build(self, input_shape: tuple) -> None:
        input_shape = tuple(input_shape)
        features = self._features(input_shape)
        if features is None:
            raise ValueError(
                f"Layer '{self.name}' (BatchNormalization): the size of axis={self.axis} must "
                f"be known. Input shape received: {input_shape}"
            )
        shape = (features,)
        if self.scale:
            self.add_weight(
                shape=shape,
                initializer=self.gamma_initializer,
                regularizer=self.gamma_regularizer,
                constraint=self.gamma_constraint,
                name="gamma",
            )
        if self.center:
            self.add_weight(
                shape=shape,
                initializer=self.beta_initializer,
                regularizer=self.beta_regularizer,
                constraint=self.beta_constraint,
                name="beta",
            )
        self.add_weight(
            shape=shape,
            initializer=self.moving_mean_initializer,
            trainable=False,
            name="moving_mean",
        )
        self.add_weight(
            shape=shape,
            initializer=self.moving_variance_initializer,
            trainable=False,
            name="moving_variance",
        )
        if not self.scale:
            self.gamma = None
        if not self.center:
            self.beta = None
        self._engine_dim = layout.engine_axis(self.axis, len(input_shape))

    # ----------------------------------------------------------------- compute
    def call(self, inputs: torch.Tensor, training: bool = False, mask: Any = None) -> torch.Tensor:
        if mask is not None and mask.ndim != inputs.ndim - 1:
            raise ValueError(
                f"Layer '{self.name}' (BatchNormalization): the mask should have one "
                f"dimension less than the inputs. Received: mask.shape={tuple(mask.shape)}, "
                f"inputs.shape={tuple(layout.to_user(inputs).shape)}"
            )
        dim = self._engine_dim
        # torch's kernels normalize over dim 1; another features axis is moved there (a view).
        x = inputs if dim == 1 else inputs.movedim(dim, 1)
        dtype = x.dtype
        if dtype != self.moving_mean.dtype:
            # Statistics of half-precision inputs are computed in float32, as Keras does.
            x = x.to(self.moving_mean.dtype)
        if training and self.trainable and mask is not None:
            # Masked steps (the mask covers every axis but the features, engine dim 1)
            # take no part in the statistics, as in Keras.
            keep = mask.bool().unsqueeze(1).expand_as(inputs)
            keep = keep if dim == 1 else keep.movedim(dim, 1)
            y = self._normalize_with_masked_statistics(x, keep)
        elif training and self.trainable:
            y = self._normalize_with_batch_statistics(x)
        else:
            y = F.batch_norm(
                x, self.moving_mean, self.moving_variance, self.gamma, self.beta,
                False, 0.0, self.epsilon,
            )  # fmt: skip
        y = y.to(dtype)
        return y if dim == 1 else y.movedim(1, dim)

    def _normalize_with_batch_statistics(self, x: torch.Tensor) -> torch.Tensor:
        count = x.numel() // x.shape[1]
        world = _world_size() if self.synchronized else 1
        if world == 1 and count > 1:
            y, mean, variance = normalize_with_batch_statistics(
                x, self.gamma, self.beta, self.epsilon
            )
        else:
            if world > 1:
                mean, variance = _global_moments(x)
            else:  # one value per channel: torch's kernel refuses it, Keras gives var = 0
                reduce = [d for d in range(x.ndim) if d != 1]
                variance, mean = torch.var_mean(x, dim=reduce, unbiased=False)
            y = self._affine(x, mean, variance)
        self._update_moving_statistics(mean, variance)
        return y

    def _normalize_with_masked_statistics(self, x: torch.Tensor, keep: torch.Tensor):
        reduce = [d for d in range(x.ndim) if d != 1]
        weights = torch.sum(keep.to(x.dtype), dim=reduce) + epsilon()
        mean = torch.sum(torch.where(keep, x, 0.0), dim=reduce) / weights
        shape = (1, -1) + (1,) * (x.ndim - 2)
        difference = torch.where(keep, x - mean.view(shape), 0.0)
        variance = torch.sum(difference.square(), dim=reduce) / weights
        y = self._affine(x, mean, variance)
        self._update_moving_statistics(mean, variance)
        return y

    def _update_moving_statistics(self, mean: torch.Tensor, variance: torch.Tensor) -> None:
        with torch.no_grad():
            momentum = self.momentum
            self.moving_mean.copy_(self.moving_mean * momentum + mean * (1.0 - momentum))
            self.moving_variance.copy_(
                self.moving_variance * momentum + variance * (1.0 - momentum)
            )

    def _affine(self, x: torch.Tensor, mean: torch.Tensor, variance: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (x.ndim - 2)
        factor = torch.rsqrt(variance + self.epsilon)
        if self.gamma is not None:
            factor = factor * self.gamma
        y = (x - mean.view(shape)) * factor.view(shape)
        return y if self.beta is None else y + self.beta.view(shape)

    # ----------------------------------------------------------------- config
    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "axis": self.axis,
                "momentum": self.momentum,
                "epsilon": self.epsilon,
                "center": self.center,
                "scale": self.scale,
                "beta_initializer": cu.serialize_initializer(self.beta_initializer),
                "gamma_initializer": cu.serialize_initializer(self.gamma_initializer),
                "moving_mean_initializer": cu.serialize_initializer(self.moving_mean_initializer),
                "moving_variance_initializer": cu.serialize_initializer(
                    self.moving_variance_initializer
                ),
                "beta_regularizer": cu.serialize_regularizer(self.beta_regularizer),
                "gamma_regularizer": cu.serialize_regularizer(self.gamma_regularizer),
                "beta_constraint": cu.serialize_constraint(self.beta_constraint),
                "gamma_constraint": cu.serialize_constraint(self.gamma_constraint),
                "synchronized": self.synchronized,
                "renorm": self.renorm,
                "renorm_clipping": self.renorm_clipping,
                "renorm_momentum": self.renorm_momentum,
            }
        )
        return config


class _AffineNormalization(Layer):
    """Shared by Layer and Group normalization: `epsilon`, and the optional learned scale
    `gamma` and offset `beta` with their initializers, regularizers and constraints."""

    _engine_layout = True

    def _check_affine(
        self,
        check: cu.ArgumentErrors,
        epsilon: Any,
        center: Any,
        scale: Any,
        initializers: tuple[Any, Any],
        regularizers: tuple[Any, Any],
        constraints: tuple[Any, Any],
    ) -> dict[str, Any]:
        args = {
            "epsilon": check.number("epsilon", epsilon, low=0.0),
            "center": check.boolean("center", center),
            "scale": check.boolean("scale", scale),
        }
        for i, prefix in enumerate(("beta", "gamma")):
            args[f"{prefix}_initializer"] = check.initializer(
                f"{prefix}_initializer", initializers[i]
            )
            args[f"{prefix}_regularizer"] = check.regularizer(
                f"{prefix}_regularizer", regularizers[i]
            )
            args[f"{prefix}_constraint"] = check.constraint(f"{prefix}_constraint", constraints[i])
        return args

    def _add_affine_weights(self, shape: tuple[int, ...], scale: bool, center: bool) -> None:
        for name, wanted in (("gamma", scale), ("beta", center)):
            if wanted:
                self.add_weight(
                    shape=shape,
                    initializer=getattr(self, f"{name}_initializer"),
                    regularizer=getattr(self, f"{name}_regularizer"),
                    constraint=getattr(self, f"{name}_constraint"),
                    name=name,
                )
            else:
                setattr(self, name, None)

    def _affine_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"epsilon": self.epsilon, "center": self.center}
        config["scale"] = self.scale
        if hasattr(self, "rms_scaling"):  # LayerNormalization's flag comes before the weights
            config["rms_scaling"] = self.rms_scaling
        # Keras's key order: both initializers, then both regularizers, then both constraints.
        for kind, serialize in (
            ("initializer", cu.serialize_initializer),
            ("regularizer", cu.serialize_regularizer),
            ("constraint", cu.serialize_constraint),
        ):
            for prefix in ("beta", "gamma"):
                config[f"{prefix}_{kind}"] = serialize(getattr(self, f"{prefix}_{kind}"))
        return config

    def _non_batch_axis(self, axis: int, input_shape: tuple) -> int:
        """`axis` as a positive index; raises naming the layer unless it is a non-batch axis."""
        rank = len(input_shape)
        if not -rank <= axis < rank or axis % rank == 0:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}): axis={axis} must name a "
                f"non-batch axis of the input. Input shape received: {tuple(input_shape)}"
            )
        return axis % rank

    def _compute_float(
        self, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """`x`, `gamma` and `beta` in the dtype statistics are computed in.

        Half-precision inputs are normalized in float32, as Keras does.
        """
        if x.dtype in (torch.float16, torch.bfloat16):
            x = x.float()
        gamma, beta = self.gamma, self.beta
        if gamma is not None and gamma.dtype != x.dtype:
            gamma = gamma.to(x.dtype)
        if beta is not None and beta.dtype != x.dtype:
            beta = beta.to(x.dtype)
        return x, gamma, beta


class LayerNormalization(_AffineNormalization):
    """Normalizes each sample over `axis`: `gamma * (x - mean) / sqrt(var + epsilon) + beta`.

    The mean and the (biased) variance are taken per sample over the axes in `axis`; unlike
    BatchNormalization nothing depends on the batch, so training and inference agree.
    Keras's defaults apply: `epsilon=1e-3` (torch's `nn.LayerNorm` uses 1e-5), and `gamma`
    and `beta` have the shape of the normalized axes.

    Args:
        axis: a Keras (channels-last) axis or list of axes to normalize over; `-1`, the
            channels, by default. After building, `axis` holds the sorted list, as in Keras.
        epsilon: added to the variance to avoid dividing by zero.
        center: whether to add the learned offset `beta`.
        scale: whether to multiply by the learned scale `gamma`.
        beta_initializer: initializer of `beta` (`"zeros"`).
        gamma_initializer: initializer of `gamma` (`"ones"`).
        beta_regularizer: penalty on `beta`.
        gamma_regularizer: penalty on `gamma`.
        beta_constraint: projection applied to `beta` after each optimizer step.
        gamma_constraint: projection applied to `gamma` after each optimizer step.
        rms_scaling: Keras's deprecated variant: `x / sqrt(var + epsilon) * gamma` (no
            centering, no `beta`), kept for loading Keras models; it warns, as Keras does.
        **kwargs: base layer arguments (`name`, `dtype`, `trainable`, `input_shape`, ...).

    Example:
        >>> import torch
        >>> from convolve.layers.normalization import LayerNormalization
        >>> y = LayerNormalization()(torch.tensor([[1.0, 3.0]]))
        >>> [round(v, 4) for v in y.flatten().tolist()]  # (x - 2) / sqrt(1 + 0.001)
        [-0.9995, 0.9995]
    """

    _hands_on_masks = True
    min_input_ndim = 2

    def __init__(
        self,
        axis: int | Sequence[int] = -1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        beta_constraint: Any = None,
        gamma_constraint: Any = None,
        *,
        rms_scaling: bool = False,
        **kwargs: Any,
    ) -> None:
        check = cu.ArgumentErrors(type(self).__name__)
        axes = [axis] if cu.is_int(axis) else axis
        if not isinstance(axes, Sequence) or not axes or not all(cu.is_int(a) for a in axes):
            check.add(f"axis must be an int or a list of ints, received axis={axis!r}")
        elif len(set(axes)) != len(axes):
            check.add(f"axis must not repeat an axis, received axis={axis!r}")
        args = self._check_affine(
            check, epsilon, center, scale,
            (beta_initializer, gamma_initializer),
            (beta_regularizer, gamma_regularizer),
            (beta_constraint, gamma_constraint),
        )  # fmt: skip
        args["rms_scaling"] = check.boolean("rms_scaling", rms_scaling)
        check.raise_if_any()
        super().__init__(**kwargs)
        if args["rms_scaling"]:
            warnings.warn(
                "LayerNormalization(rms_scaling=True) is deprecated in Keras: it divides by "
                "the standard deviation, not the root mean square.",
                stacklevel=2,
            )
        self.axis: Any = int(axis) if cu.is_int(axis) else [int(a) for a in axis]
        for key, value in args.items():
            setattr(self, key, value)

    def _axes(self, input_shape: tuple) -> list[int]:
        axes = [self.axis] if isinstance(self.axis, int) else self.axis
        positive = sorted(self._non_batch_axis(a, input_shape) for a in axes)
        if len(set(positive)) != len(positive):
            raise ValueError(
                f"Layer '{self.name}' (LayerNormalization): axis={self.axis} names an axis "
                f"twice. Input shape received: {tuple(input_shape)}"
            )
        return positive

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        input_shape = tuple(input_shape)
        self._axes(input_shape)
        return input_shape

    def build(self, input_shape: tuple) -> None:
        input_shape = tuple(input_shape)
        dims = self._axes(input_shape)
        shape = tuple(input_shape[d] for d in dims)
        if None in shape:
            raise ValueError(
                f"Layer '{self.name}' (LayerNormalization): the sizes of axis={self.axis} "
                f"must be known. Input shape received: {input_shape}"
            )
        self._add_affine_weights(
            shape, self.scale or self.rms_scaling, self.center and not self.rms_scaling
        )
        self.axis = sorted([self.axis] if isinstance(self.axis, int) else self.axis)
        # The normalized axes are moved last (in Keras order, matching gamma's shape) so
        # that torch's fused layer_norm kernel runs over them.
        rest = [d for d in range(len(input_shape)) if d not in dims]
        self._perm = (*rest, *dims)
        self._inverse = tuple(self._perm.index(d) for d in range(len(input_shape)))
        self._normalized_shape = shape

    def call(self, inputs: torch.Tensor, training: bool = False) -> torch.Tensor:
        x, gamma, beta = self._compute_float(inputs)
        v = layout.to_user(x).permute(self._perm)
        if self.rms_scaling:
            dims = tuple(range(-len(self._normalized_shape), 0))
            variance = torch.var(v, dim=dims, keepdim=True, unbiased=False)
            y = v * torch.rsqrt(variance + self.epsilon)
            if gamma is not None:
                y = y * gamma
        else:
            y = F.layer_norm(v, self._normalized_shape, gamma, beta, self.epsilon)
        return layout.to_engine(y.permute(self._inverse)).to(inputs.dtype)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"axis": self.axis, **self._affine_config()})
        return config


class GroupNormalization(_AffineNormalization):
    """Splits the channels into `groups` and normalizes each group of each sample.

    For every sample, the channels along `axis` are split into `groups` consecutive groups;
    each group is normalized with its own mean and (biased) variance over its channels and
    every other non-batch axis, then scaled by `gamma` and offset by `beta` per channel.
    `groups=1` is LayerNormalization over all axes with per-channel weights; `groups=-1`
    (one channel per group) is instance normalization.

    Args:
        groups: number of groups; must divide the number of channels. `-1` means one
            group per channel (set to the channel count when the layer is built, as Keras
            does).
        axis: the channels axis (Keras layout), `-1` by default.
        epsilon: added to the variance to avoid dividing by zero (`1e-3`, as in Keras).
        center: whether to add the learned offset `beta`.
        scale: whether to multiply by the learned scale `gamma`.
        beta_initializer: initializer of `beta` (`"zeros"`).
        gamma_initializer: initializer of `gamma` (`"ones"`).
        beta_regularizer: penalty on `beta`.
        gamma_regularizer: penalty on `gamma`.
        beta_constraint: projection applied to `beta` after each optimizer step.
        gamma_constraint: projection applied to `gamma` after each optimizer step.
        **kwargs: base layer arguments (`name`, `dtype`, `trainable`, `input_shape`, ...).

    Example:
        >>> import torch
        >>> from convolve.layers.normalization import GroupNormalization
        >>> layer = GroupNormalization(groups=2)
        >>> layer(torch.randn(2, 8, 8, 6)).shape
        torch.Size([2, 8, 8, 6])
        >>> layer.count_params()
        12
    """

    _hands_on_masks = True
    min_input_ndim = 2

    def __init__(
        self,
        groups: int = 32,
        axis: int = -1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        beta_constraint: Any = None,
        gamma_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        check = cu.ArgumentErrors(type(self).__name__)
        if not cu.is_int(groups) or (groups <= 0 and groups != -1):
            check.add(
                "groups must be a positive integer, or -1 for one group per channel, "
                f"received groups={groups!r}"
            )
        if not cu.is_int(axis):
            check.add(f"axis must be an integer, received axis={axis!r}")
        args = self._check_affine(
            check, epsilon, center, scale,
            (beta_initializer, gamma_initializer),
            (beta_regularizer, gamma_regularizer),
            (beta_constraint, gamma_constraint),
        )  # fmt: skip
        check.raise_if_any()
        super().__init__(**kwargs)
        self.groups = int(groups)
        self.axis = int(axis)
        for key, value in args.items():
            setattr(self, key, value)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        input_shape = tuple(input_shape)
        self._non_batch_axis(self.axis, input_shape)
        return input_shape

    def build(self, input_shape: tuple) -> None:
        input_shape = tuple(input_shape)
        channels = input_shape[self._non_batch_axis(self.axis, input_shape)]
        if channels is None:
            raise ValueError(
                f"Layer '{self.name}' (GroupNormalization): the size of axis={self.axis} must "
                f"be known. Input shape received: {input_shape}"
            )
        groups = channels if self.groups == -1 else self.groups
        if groups > channels or channels % groups:
            raise ValueError(
                f"Layer '{self.name}' (GroupNormalization): groups={groups} must divide the "
                f"number of channels, but axis={self.axis} has {channels} channels. "
                f"Input shape received: {input_shape}"
            )
        self.groups = groups
        self._add_affine_weights((channels,), self.scale, self.center)
        self._engine_dim = layout.engine_axis(self.axis, len(input_shape))

    def call(self, inputs: torch.Tensor, training: bool = False) -> torch.Tensor:
        dim = self._engine_dim
        # torch's kernel groups dim 1; another channels axis is moved there (a view).
        x, gamma, beta = self._compute_float(inputs if dim == 1 else inputs.movedim(dim, 1))
        y = F.group_norm(x, self.groups, gamma, beta, self.epsilon).to(inputs.dtype)
        return y if dim == 1 else y.movedim(1, dim)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"groups": self.groups, "axis": self.axis, **self._affine_config()})
        return config


def _world_size() -> int:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


def _global_moments(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and biased variance per channel over every process's batch.

    The sums are all-reduced with the differentiable collective so that gradients flow
    through the global statistics, as in `torch.nn.SyncBatchNorm`.
    """
    from torch.distributed.nn.functional import all_reduce

    reduce = [d for d in range(x.ndim) if d != 1]
    channels = x.shape[1]
    local = torch.cat(
        [x.sum(dim=reduce), x.square().sum(dim=reduce), x.new_full((1,), x.numel() / channels)]
    )
    total = all_reduce(local)
    count = total[-1]
    mean = total[:channels] / count
    variance = (total[channels : 2 * channels] / count - mean.square()).clamp_min(0.0)
    return mean, variance
