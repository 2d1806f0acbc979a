"""`Distiller`: a model that trains a student from a frozen teacher, as in Keras 3."""

from __future__ import annotations

from typing import Any

import torch

from convolve import metrics, tree
from convolve.distillation.distillation_loss import DistillationLoss, _convert_loss_to_function
from convolve.models.model import Model

__all__ = ["Distiller"]


def _symbolic(model: Any, attribute: str) -> Any:
    try:
        return getattr(model, attribute)
    except (AttributeError, ValueError):
        return None


class Distiller(Model):
    """Trains `student` on a weighted sum of its own loss and distillation losses.

    The total loss is `student_loss_weight * student_loss + (1 - student_loss_weight) *
    sum(weight_i * distillation_loss_i)`, where `student_loss` is the compiled `loss`
    on the labels. The teacher is frozen (`trainable = False`) and called with
    `training=False`; `predict` and calling the distiller give the student's outputs.
    Besides `loss`, the logs hold `student_loss`, `distillation_loss` and `total_loss`
    (each the mean over the epoch's batches).

    Args:
        teacher: A trained model, the source of knowledge.
        student: The model to train.
        distillation_losses: A `DistillationLoss` (e.g. `LogitsDistillation`,
            `FeatureDistillation`) or a list of them.
        distillation_loss_weights: One weight per distillation loss, for a list; None
            weighs each by 1.0.
        student_loss_weight: Weight of the student's own loss, in [0, 1]. Defaults to 0.5.
        name: Name of the model. Defaults to "distiller".
        **kwargs: Passed to `Model`.

    Example:
        >>> import numpy as np
        >>> import convolve as keras
        >>> def net(width, name):
        ...     return keras.Sequential([
        ...         keras.Input((6, 6, 1)), keras.layers.Conv2D(width, 3),
        ...         keras.layers.Flatten(), keras.layers.Dense(3)], name=name)
        >>> distiller = keras.distillation.Distiller(
        ...     teacher=net(4, "teacher"), student=net(2, "student"),
        ...     distillation_losses=keras.distillation.LogitsDistillation())
        >>> distiller.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        >>> history = distiller.fit(np.zeros((4, 6, 6, 1)), np.zeros(4), verbose=0)
        >>> sorted(history.history)
        ['distillation_loss', 'loss', 'student_loss', 'total_loss']
    """

    def __init__(
        self,
        teacher: Model,
        student: Model,
        distillation_losses: Any,
        distillation_loss_weights: list[float] | None = None,
        student_loss_weight: float = 0.5,
        name: str = "distiller",
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, **kwargs)
        self._validate_models(teacher, student)
        self.teacher = teacher
        self.student = student
        if isinstance(student_loss_weight, bool) or not isinstance(
            student_loss_weight, int | float
        ):
            raise ValueError(
                f"student_loss_weight must be a number, got {type(student_loss_weight)}; "
                f"received student_loss_weight={student_loss_weight!r}"
            )
        if student_loss_weight < 0.0 or student_loss_weight > 1.0:
            raise ValueError(
                f"student_loss_weight must be between 0.0 and 1.0, got {student_loss_weight}"
            )
        self.student_loss_weight = student_loss_weight
        if distillation_losses is None:
            raise ValueError(
                "'distillation_losses' cannot be `None`. Provide a distillation loss (e.g., "
                "LogitsDistillation or FeatureDistillation) or a list of distillation losses."
            )
        if not isinstance(distillation_losses, list | tuple):
            self.distillation_losses = [distillation_losses]
            self.distillation_loss_weights = [1.0]
        else:
            self.distillation_losses = list(distillation_losses)
            if distillation_loss_weights is None:
                self.distillation_loss_weights = [1.0] * len(distillation_losses)
            else:
                if len(distillation_loss_weights) != len(distillation_losses):
                    raise ValueError(
                        "Number of distillation_loss_weights "
                        f"({len(distillation_loss_weights)}) must match number of "
                        f"distillation_losses ({len(distillation_losses)})"
                    )
                self.distillation_loss_weights = list(distillation_loss_weights)
        for distillation_loss in self.distillation_losses:
            if not isinstance(distillation_loss, DistillationLoss):
                raise ValueError(
                    "Each distillation loss must be a DistillationLoss (e.g. "
                    "LogitsDistillation or FeatureDistillation); received "
                    f"distillation_losses={distillation_losses!r}"
                )
            distillation_loss.validate_model_compatibility(teacher, student)
        self._create_multi_feature_extractors()
        self.teacher.trainable = False
        self.student_loss_tracker = metrics.Mean(name="student_loss")
        self.distillation_loss_tracker = metrics.Mean(name="distillation_loss")
        self.total_loss_tracker = metrics.Mean(name="total_loss")
        self._student_loss: Any = None
        self._student_loss_for_serialization: Any = None

    # --------------------------------------------------------------- validation

    def _validate_models(self, teacher: Any, student: Any) -> None:
        if not isinstance(teacher, Model):
            raise ValueError(f"Teacher must be a keras.Model, got {type(teacher)}")
        if not isinstance(student, Model):
            raise ValueError(f"Student must be a keras.Model, got {type(student)}")
        teacher_inputs, student_inputs = _symbolic(teacher, "inputs"), _symbolic(student, "inputs")
        if teacher_inputs is not None and student_inputs is not None:
            tree.map_structure(
                lambda t, s: self._assert_shapes_are_compatible(t.shape, s.shape, "input"),
                teacher_inputs,
                student_inputs,
            )
        teacher_outputs = _symbolic(teacher, "outputs")
        student_outputs = _symbolic(student, "outputs")
        if teacher_outputs is not None and student_outputs is not None:
            tree.map_structure(
                lambda t, s: self._assert_shapes_are_compatible(t.shape, s.shape, "output"),
                teacher_outputs,
                student_outputs,
            )
        if teacher_inputs is not None and student_inputs is not None:
            tree.map_structure(
                lambda t, s: self._assert_same_dtype(t.dtype, s.dtype, "input"),
                teacher_inputs,
                student_inputs,
            )
            if teacher_outputs is not None and student_outputs is not None:
                tree.map_structure(
                    lambda t, s: self._assert_same_dtype(t.dtype, s.dtype, "output"),
                    teacher_outputs,
                    student_outputs,
                )

    @staticmethod
    def _assert_shapes_are_compatible(shape1: Any, shape2: Any, context: str) -> None:
        shape1, shape2 = tuple(shape1), tuple(shape2)
        if len(shape1) != len(shape2):
            raise ValueError(
                f"Teacher and student {context} shapes have different dimensions. "
                f"Teacher: {shape1}, Student: {shape2}."
            )
        for dim1, dim2 in zip(shape1, shape2, strict=True):
            if dim1 is not None and dim2 is not None and dim1 != dim2:
                raise ValueError(
                    f"Teacher and student {context} shapes are incompatible. "
                    f"Teacher: {shape1}, Student: {shape2}. All dimensions must match."
                )

    @staticmethod
    def _assert_same_dtype(teacher_dtype: Any, student_dtype: Any, context: str) -> None:
        if teacher_dtype != student_dtype:
            raise ValueError(
                f"Teacher and student {context} dtypes must match. "
                f"Teacher: {teacher_dtype}, Student: {student_dtype}."
            )

    # --------------------------------------------------------------- features

    def _create_multi_feature_extractors(self) -> None:
        teacher_names: list[str] = []
        student_names: list[str] = []
        for distillation_loss in self.distillation_losses:
            name = getattr(distillation_loss, "teacher_layer_name", None)
            if name and name not in teacher_names:
                teacher_names.append(name)
            name = getattr(distillation_loss, "student_layer_name", None)
            if name and name not in student_names:
                student_names.append(name)
        # Kept out of the module tree: the extractors share the models' layers.
        self.__dict__["_teacher_feature_extractor"] = self._create_feature_extractor(
            self.teacher, teacher_names
        )
        self.__dict__["_student_feature_extractor"] = self._create_feature_extractor(
            self.student, student_names
        )

    @staticmethod
    def _create_feature_extractor(model: Any, layer_names: list[str]) -> Any:
        if not layer_names:
            return None
        inputs = _symbolic(model, "inputs")
        if inputs is None:
            raise ValueError(
                f"Cannot create feature extractor for {model.name}. "
                "The model has no symbolic inputs attribute."
            )
        outputs = {
            "final_output": model.layers[-1].output if _is_sequential(model) else model.output
        }
        for layer_name in layer_names:
            outputs[layer_name] = model.get_layer(name=layer_name).output
        return Model(inputs=inputs, outputs=outputs, name=f"{model.name}_multi_feature_extractor")

    def _extract_all_teacher_features(self, x: Any) -> dict[str, Any]:
        extractor = self.__dict__.get("_teacher_feature_extractor")
        if extractor is not None:
            return extractor(x, training=False)
        return {"final_output": self.teacher(x, training=False)}

    def _extract_all_student_features(self, x: Any, y_pred: Any) -> dict[str, Any]:
        extractor = self.__dict__.get("_student_feature_extractor")
        if extractor is not None:
            return extractor(x, training=True)
        return {"final_output": y_pred}

    @staticmethod
    def _get_distillation_loss_features(
        distillation_loss: Any, all_features: dict[str, Any], is_teacher: bool
    ) -> Any:
        attribute = "teacher_layer_name" if is_teacher else "student_layer_name"
        layer_name = getattr(distillation_loss, attribute, None) or "final_output"
        if layer_name not in all_features:
            raise ValueError(
                f"Layer '{layer_name}' not found in extracted features. "
                f"Available: {list(all_features.keys())}"
            )
        return all_features[layer_name]

    # --------------------------------------------------------------- training

    def compile(
        self, optimizer: Any = "adam", loss: Any = None, metrics: Any = None, **kwargs: Any
    ) -> None:  # type: ignore[override]
        """Configures training: `loss` is the student's own loss on the labels.

        Args:
            optimizer: Optimizer of the student's weights. Defaults to "adam".
            loss: The student's loss (a name, a loss object, or a structure of them for
                several outputs). Required.
            metrics: A list of metrics of the student's predictions.
            **kwargs: Passed to `Model.compile`.
        """
        if loss is None:
            raise ValueError("'loss' cannot be `None`.")
        self._student_loss = tree.map_structure(_convert_loss_to_function, loss)
        self._student_loss_for_serialization = loss
        if metrics is not None and not isinstance(metrics, list | tuple):
            raise ValueError(f"metrics must be a list or tuple, got {type(metrics)}")
        super().compile(optimizer=optimizer, loss=None, metrics=metrics, **kwargs)
        if self._compile_config is not None:
            # The student's loss goes into the model file, so loading compiles it again.
            self._compile_config["loss"] = loss

    def call(self, inputs: Any, training: bool | None = None, **kwargs: Any) -> Any:
        """The student's outputs."""
        return self.student(inputs, training=training, **kwargs)

    def compute_loss(
        self,
        x: Any = None,
        y: Any = None,
        y_pred: Any = None,
        sample_weight: Any = None,
        training: bool = True,
    ) -> torch.Tensor:
        """The weighted sum of the student's loss and the distillation losses.

        As in Keras, `sample_weight` and the models' regularization losses are not used.
        """
        if y_pred is None:
            y_pred = self(x, training=training)
        if self._student_loss is None:
            raise ValueError(
                f"You must call compile() on model '{self.name}' before computing its loss."
            )
        like = tree.flatten(y_pred)[0]
        student_loss: Any = 0.0
        if self.student_loss_weight > 0.0 and y is not None:
            values = tree.map_structure(
                lambda fn, o, o_pred: fn(o, o_pred), self._student_loss, y, y_pred
            )
            flat = tree.flatten(values)
            student_loss = torch.stack(flat).sum() if len(flat) > 1 else flat[0]
            if isinstance(student_loss, torch.Tensor) and student_loss.dim() > 0:
                student_loss = torch.mean(student_loss)
        distillation_loss: Any = 0.0
        if self.student_loss_weight < 1.0:
            teacher_features = self._extract_all_teacher_features(x)
            student_features = self._extract_all_student_features(x, y_pred)
            for loss_fn, weight in zip(
                self.distillation_losses, self.distillation_loss_weights, strict=True
            ):
                if getattr(loss_fn, "teacher_layer_name", None) is not None:
                    try:
                        teacher_out = self._get_distillation_loss_features(
                            loss_fn, teacher_features, is_teacher=True
                        )
                        student_out = self._get_distillation_loss_features(
                            loss_fn, student_features, is_teacher=False
                        )
                    except ValueError as error:
                        raise RuntimeError(
                            f"Failed to extract features for {type(loss_fn).__name__} "
                            f"targeting teacher layer '{loss_fn.teacher_layer_name}' and "
                            f"student layer '{loss_fn.student_layer_name}'. "
                            f"Original error: {error}"
                        ) from error
                else:
                    teacher_out = teacher_features["final_output"]
                    student_out = y_pred
                loss_fn.validate_outputs(teacher_out, student_out)
                current = loss_fn.compute_loss(teacher_out, student_out)
                if isinstance(current, torch.Tensor) and current.dim() > 0:
                    raise ValueError(
                        f"Distillation loss {type(loss_fn).__name__} returned a non-scalar "
                        f"loss with shape {tuple(current.shape)}. The compute_loss method "
                        "must return a scalar tensor."
                    )
                distillation_loss = distillation_loss + weight * current
        total_loss = self.student_loss_weight * _as_tensor(student_loss, like) + (
            1.0 - self.student_loss_weight
        ) * _as_tensor(distillation_loss, like)
        self.student_loss_tracker.update_state(_as_tensor(student_loss, like).detach())
        self.distillation_loss_tracker.update_state(_as_tensor(distillation_loss, like).detach())
        self.total_loss_tracker.update_state(total_loss.detach())
        return total_loss

    def reset_metrics(self) -> None:
        super().reset_metrics()
        self.student_loss_tracker.reset_state()
        self.distillation_loss_tracker.reset_state()
        self.total_loss_tracker.reset_state()

    # --------------------------------------------------------------- config

    def get_config(self) -> dict[str, Any]:
        from convolve.saving.serialization import serialize_layer

        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype_policy.name}
        config.update(
            {
                "teacher": serialize_layer(self.teacher),
                "student": serialize_layer(self.student),
                "distillation_losses": [
                    {
                        "module": "keras.distillation",
                        "class_name": type(d).__name__,
                        "config": d.get_config(),
                        "registered_name": None,
                    }
                    for d in self.distillation_losses
                ],
                "distillation_loss_weights": self.distillation_loss_weights,
                "student_loss_weight": self.student_loss_weight,
            }
        )
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: Any = None) -> Distiller:
        """Rebuilds a distiller (teacher, student and losses) from `get_config()` output."""
        from convolve.distillation.distillation_loss import FeatureDistillation, LogitsDistillation
        from convolve.saving.serialization import deserialize_layer

        config = dict(config)
        for key in ("teacher", "student"):
            if isinstance(config.get(key), dict):
                config[key] = deserialize_layer(config[key], custom_objects=custom_objects)
        known = {
            "LogitsDistillation": LogitsDistillation,
            "FeatureDistillation": FeatureDistillation,
        }
        known.update(custom_objects or {})
        rebuilt = []
        for entry in config.get("distillation_losses") or []:
            if isinstance(entry, dict) and "class_name" in entry:
                loss_cls = known.get(entry["class_name"])
                if loss_cls is None:
                    raise ValueError(
                        f"Distiller.from_config: unknown distillation loss "
                        f"class_name={entry['class_name']!r}; pass it in `custom_objects`."
                    )
                entry = loss_cls.from_config(entry.get("config") or {})
            rebuilt.append(entry)
        config["distillation_losses"] = rebuilt
        return cls(**config)


def _is_sequential(model: Any) -> bool:
    from convolve.models import Sequential

    return isinstance(model, Sequential)


def _as_tensor(value: Any, like: torch.Tensor) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.to(torch.float32)
    return torch.tensor(float(value), dtype=torch.float32, device=like.device)
