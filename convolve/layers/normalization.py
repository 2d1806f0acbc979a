"""BatchNormalization with Keras's defaults, weights and moving-statistics update."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from convolve.layers import _conv_utils as cu
from convolve.layers import layout
from convolve.layers.base import Layer


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
    def call(self, inputs: torch.Tensor, training: bool = False) -> torch.Tensor:
        dim = self._engine_dim
        # torch's kernels normalize over dim 1; another features axis is moved there (a view).
        x = inputs if dim == 1 else inputs.movedim(dim, 1)
        dtype = x.dtype
        if dtype != self.moving_mean.dtype:
            # Statistics of half-precision inputs are computed in float32, as Keras does.
            x = x.to(self.moving_mean.dtype)
        if training and self.trainable:
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
            # torch's fused kernel normalizes with the biased variance but reports the
            # unbiased one; with momentum 1 the buffers receive exactly this batch's values.
            mean = x.new_zeros(x.shape[1])
            unbiased = x.new_zeros(x.shape[1])
            y = F.batch_norm(x, mean, unbiased, self.gamma, self.beta, True, 1.0, self.epsilon)
            variance = unbiased * ((count - 1) / count)
        else:
            if world > 1:
                mean, variance = _global_moments(x)
            else:  # one value per channel: torch's kernel refuses it, Keras gives var = 0
                reduce = [d for d in range(x.ndim) if d != 1]
                variance, mean = torch.var_mean(x, dim=reduce, unbiased=False)
            y = self._affine(x, mean, variance)
        with torch.no_grad():
            momentum = self.momentum
            self.moving_mean.copy_(self.moving_mean * momentum + mean * (1.0 - momentum))
            self.moving_variance.copy_(
                self.moving_variance * momentum + variance * (1.0 - momentum)
            )
        return y

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
