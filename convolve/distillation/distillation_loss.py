"""Distillation losses: how a student's outputs (or features) are pulled toward a teacher's."""

from __future__ import annotations

from typing import Any

import torch

from convolve import losses, tree

__all__ = ["DistillationLoss", "FeatureDistillation", "LogitsDistillation"]


def _convert_loss_to_function(loss_item: Any) -> Any:
    """A loss name becomes Keras's loss function of that name; anything else is kept."""
    if loss_item is None:
        return None
    if isinstance(loss_item, str):
        try:
            loss_fn = losses.get(loss_item)
        except ValueError as error:
            raise ValueError(f"Unknown loss function: '{loss_item}'.") from error
        if loss_fn is None:
            raise ValueError(f"Unknown loss function: '{loss_item}'.")
        return loss_fn
    return loss_item


def _serialize_losses(structure: Any) -> Any:
    if structure is None:
        return None
    if isinstance(structure, list | tuple):
        return [_serialize_losses(item) for item in structure]
    if isinstance(structure, dict):
        return {key: _serialize_losses(value) for key, value in structure.items()}
    return losses.serialize(structure)


def _deserialize_losses(structure: Any) -> Any:
    if structure is None:
        return None
    if isinstance(structure, list | tuple):
        return [_deserialize_losses(item) for item in structure]
    if isinstance(structure, dict) and "class_name" not in structure:
        return {key: _deserialize_losses(value) for key, value in structure.items()}
    return losses.deserialize(structure)


def _sum_of(values: list[Any], like: Any) -> torch.Tensor:
    tensors = [
        v if isinstance(v, torch.Tensor) else torch.tensor(float(v), device=like.device)
        for v in values
    ]
    return torch.stack([t.to(torch.float32).reshape(()) for t in tensors]).sum()


def _first_tensor(structure: Any) -> torch.Tensor:
    for leaf in tree.flatten(structure):
        if isinstance(leaf, torch.Tensor):
            return leaf
    return torch.zeros(())


class DistillationLoss:
    """Base class of distillation losses.

    Subclasses override `compute_loss(teacher_outputs, student_outputs)`, which returns
    a scalar tensor, and may override `validate_outputs` and
    `validate_model_compatibility` to reject unsuitable outputs or models early.
    """

    def compute_loss(self, teacher_outputs: Any, student_outputs: Any, **kwargs: Any) -> Any:
        """The distillation loss between teacher and student outputs (a scalar)."""
        raise NotImplementedError("Subclasses must implement compute_loss")

    def validate_outputs(self, teacher_outputs: Any, student_outputs: Any) -> None:
        """Raises ValueError when the two outputs do not have the same structure."""
        tree.assert_same_structure(teacher_outputs, student_outputs)

    def validate_model_compatibility(self, teacher: Any, student: Any) -> None:
        """Raises ValueError when the models cannot be used with this loss."""


class FeatureDistillation(DistillationLoss):
    """Matches features of a teacher layer and a student layer (or the final outputs).

    Args:
        loss: A loss name (e.g. "mse", "cosine_similarity"), a loss object, or a nested
            structure of them (None skips an output) matching the features' structure.
            At least one must be non-None. Defaults to "mse".
        teacher_layer_name: Name of the teacher layer whose output is matched, or None
            for the teacher's final output.
        student_layer_name: Name of the student layer whose output is matched, or None
            for the student's final output.

    Example:
        >>> FeatureDistillation(loss="mse", teacher_layer_name="conv2d").teacher_layer_name
        'conv2d'
    """

    def __init__(
        self,
        loss: Any = "mse",
        teacher_layer_name: str | None = None,
        student_layer_name: str | None = None,
    ) -> None:
        self.teacher_layer_name = teacher_layer_name
        self.student_layer_name = student_layer_name
        self.loss = tree.map_structure(_convert_loss_to_function, loss)
        if all(item is None for item in tree.flatten(self.loss)):
            raise ValueError(
                "The `loss` argument in `FeatureDistillation` must contain at least one "
                f"non-`None` value; received loss={loss!r}"
            )

    def validate_model_compatibility(self, teacher: Any, student: Any) -> None:
        if self.teacher_layer_name is not None or self.student_layer_name is not None:
            subclassed = [
                role
                for role, model in (("teacher", teacher), ("student", student))
                if not _has_symbolic_inputs(model)
            ]
            if subclassed:
                raise ValueError(
                    "FeatureDistillation with specific layer names requires Functional or "
                    f"Sequential models. The {' and '.join(subclassed)} model(s) appear to be "
                    "subclassed (no symbolic inputs/outputs). Either use Functional/Sequential "
                    "models, or use FeatureDistillation without layer names (to distill final "
                    "outputs only), or use LogitsDistillation instead."
                )
        if self.teacher_layer_name is not None:
            try:
                teacher.get_layer(name=self.teacher_layer_name)
            except ValueError as error:
                raise ValueError(f"In teacher model: {error}") from error
        if self.student_layer_name is not None:
            try:
                student.get_layer(name=self.student_layer_name)
            except ValueError as error:
                raise ValueError(f"In student model: {error}") from error

    def validate_outputs(self, teacher_outputs: Any, student_outputs: Any) -> None:
        super().validate_outputs(teacher_outputs, student_outputs)
        try:
            tree.assert_same_structure(self.loss, teacher_outputs)
        except ValueError as error:
            raise ValueError(
                "Loss structure mismatch. Loss structure: "
                f"{tree.map_structure(lambda _: '*', self.loss)}, output structure: "
                f"{tree.map_structure(lambda _: '*', teacher_outputs)}. Error: {error}"
            ) from error

    def compute_loss(self, teacher_outputs: Any, student_outputs: Any, **kwargs: Any) -> Any:
        """The mean of each loss over its features, summed over the outputs."""

        def apply_loss(loss_fn: Any, teacher_features: Any, student_features: Any) -> Any:
            if loss_fn is None:
                return 0.0
            return torch.mean(loss_fn(teacher_features, student_features))

        values = tree.map_structure(apply_loss, self.loss, teacher_outputs, student_outputs)
        return _sum_of(tree.flatten(values), _first_tensor(student_outputs))

    def get_config(self) -> dict[str, Any]:
        return {
            "loss": _serialize_losses(self.loss),
            "teacher_layer_name": self.teacher_layer_name,
            "student_layer_name": self.student_layer_name,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> FeatureDistillation:
        config = dict(config)
        config["loss"] = _deserialize_losses(config["loss"])
        return cls(**config)


class LogitsDistillation(DistillationLoss):
    """Matches the student's logits to the teacher's, both divided by a temperature.

    With a `KLDivergence` loss object, both scaled logits go through a softmax and the
    loss is multiplied by `temperature**2`. Any other loss, including the name
    "kl_divergence" (which, as in Keras, resolves to the plain function), receives the
    scaled logits themselves.

    Args:
        temperature: Positive number dividing both logits. Defaults to 3.0.
        loss: A loss name, a loss object, or a nested structure of them matching the
            outputs (None skips an output). Defaults to "kl_divergence".

    Example:
        >>> LogitsDistillation(temperature=4.0).get_config()["temperature"]
        4.0
    """

    def __init__(self, temperature: float = 3.0, loss: Any = "kl_divergence") -> None:
        self.temperature = temperature
        self.loss = tree.map_structure(_convert_loss_to_function, loss)
        if all(item is None for item in tree.flatten(self.loss)):
            raise ValueError(f"At least one loss must be non-`None`; received loss={loss!r}")
        if isinstance(temperature, bool) or not isinstance(temperature, int | float):
            raise ValueError(
                f"temperature must be a number, got {type(temperature)}; received "
                f"temperature={temperature!r}"
            )
        if temperature <= 0.0:
            raise ValueError(f"temperature must be positive; received temperature={temperature}")

    def compute_loss(self, teacher_outputs: Any, student_outputs: Any, **kwargs: Any) -> Any:
        """The loss between the temperature-scaled logits, summed over the outputs."""
        temperature = self.temperature
        teacher_scaled = tree.map_structure(lambda x: x / temperature, teacher_outputs)
        student_scaled = tree.map_structure(lambda x: x / temperature, student_outputs)

        def apply_loss(loss_fn: Any, teacher_logits: Any, student_logits: Any) -> Any:
            if loss_fn is None:
                return 0.0
            if isinstance(loss_fn, losses.KLDivergence):
                teacher_probs = torch.softmax(teacher_logits, dim=-1)
                student_probs = torch.softmax(student_logits, dim=-1)
                return torch.mean(loss_fn(teacher_probs, student_probs)) * (temperature**2)
            return torch.mean(loss_fn(teacher_logits, student_logits))

        values = tree.map_structure(apply_loss, self.loss, teacher_scaled, student_scaled)
        return _sum_of(tree.flatten(values), _first_tensor(student_outputs))

    def get_config(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "loss": _serialize_losses(self.loss)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LogitsDistillation:
        config = dict(config)
        config["loss"] = _deserialize_losses(config["loss"])
        return cls(**config)


def _has_symbolic_inputs(model: Any) -> bool:
    try:
        return model.inputs is not None
    except (AttributeError, ValueError):
        return False
