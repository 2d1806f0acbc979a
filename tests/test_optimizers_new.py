"""Muon, ScheduleFreeAdamW, MultiOptimizer and OptimizerMap against Keras 3 (torch backend).

Weights after training use rtol=1e-5, atol=1e-6 (float32); Muon's Newton-Schulz matmuls
agree with Keras to about 1e-7 absolute.
"""

from __future__ import annotations

import inspect
import json

import keras
import numpy as np
import pytest
import torch

import convolve
from convolve import optimizers

RTOL, ATOL = 1e-5, 1e-6


def _net(lib):
    layers = lib.layers
    return lib.Sequential(
        [
            lib.Input((6, 6, 2)),
            layers.Conv2D(3, 3, activation="relu", name="conv"),
            layers.Flatten(),
            layers.Dense(5, activation="relu", name="hidden"),
            layers.Dense(4, name="out"),
        ],
        name="net",
    )


def _fit(lib, optimizer, weights):
    model = _net(lib)
    model.set_weights(weights)
    model.compile(
        optimizer=optimizer, loss=lib.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    rng = np.random.default_rng(0)
    x = rng.normal(size=(24, 6, 6, 2)).astype("float32")
    y = rng.integers(0, 4, 24)
    history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    return model, history.history["loss"]


CASES = {
    "muon": lambda o: o.Muon(learning_rate=0.05),
    "muon_options": lambda o: o.Muon(
        learning_rate=0.05,
        exclude_layers=["out"],
        nesterov=False,
        rms_rate=None,
        adam_lr_ratio=0.5,
        weight_decay=0.01,
        adam_weight_decay=None,
    ),
    "schedule_free": lambda o: o.ScheduleFreeAdamW(learning_rate=0.05),
    "schedule_free_warmup": lambda o: o.ScheduleFreeAdamW(
        learning_rate=0.05, warmup_steps=3, weight_decay=0.01
    ),
    "multi": lambda o: o.MultiOptimizer(
        o.OptimizerMap(
            o.SGD(0.1, momentum=0.9),
            {"net/out/.*": o.Adam(0.01), "net/hidden/kernel": o.Muon(0.02)},
        )
    ),
}


@pytest.mark.parity
@pytest.mark.parametrize("case", sorted(CASES))
def test_training_matches_keras(case) -> None:
    weights = _net(keras).get_weights()
    k_model, k_loss = _fit(keras, CASES[case](keras.optimizers), weights)
    c_model, c_loss = _fit(convolve, CASES[case](optimizers), weights)
    np.testing.assert_allclose(c_loss, k_loss, rtol=RTOL, atol=ATOL)
    for a, b in zip(c_model.get_weights(), k_model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)
    c_vars = [tuple(v.shape) for v in c_model.optimizer.variables]
    k_vars = [tuple(v.shape) for v in k_model.optimizer.variables]
    # Optimizer state lives in torch's layout here; compare element counts in order.
    assert [int(np.prod(s)) for s in c_vars] == [int(np.prod(s)) for s in k_vars]
    assert int(c_model.optimizer.iterations) == int(k_model.optimizer.iterations)


@pytest.mark.parity
@pytest.mark.parametrize("name", ["Muon", "ScheduleFreeAdamW", "MultiOptimizer", "OptimizerMap"])
def test_signature_defaults_match_keras(name) -> None:
    ours = inspect.signature(getattr(optimizers, name)).parameters
    theirs = inspect.signature(getattr(keras.optimizers, name)).parameters
    assert list(ours) == list(theirs)
    for key, param in theirs.items():
        assert ours[key].default == param.default, key


@pytest.mark.parity
@pytest.mark.parametrize(
    "kwargs",
    [{}, {"exclude_layers": ["dense"], "rms_rate": None, "ns_steps": 3, "momentum": 0.9}],
)
def test_muon_config_matches_keras(kwargs) -> None:
    ours = optimizers.Muon(name="m", **kwargs).get_config()
    theirs = keras.optimizers.Muon(name="m", **kwargs).get_config()
    assert ours == theirs
    again = optimizers.Muon.from_config(json.loads(json.dumps(ours)))
    assert again.get_config() == ours


@pytest.mark.parity
def test_schedule_free_config_matches_keras() -> None:
    kwargs = {"name": "s", "warmup_steps": 5, "beta_1": 0.8, "weight_decay": 0.1}
    ours = optimizers.ScheduleFreeAdamW(**kwargs).get_config()
    assert ours == keras.optimizers.ScheduleFreeAdamW(**kwargs).get_config()
    assert (
        optimizers.deserialize(
            optimizers.serialize(optimizers.ScheduleFreeAdamW(**kwargs))
        ).get_config()
        == ours
    )


@pytest.mark.parity
def test_get_by_name_like_keras() -> None:
    for name in ("muon", "schedulefreeadamw"):
        assert type(optimizers.get(name)).__name__ == type(keras.optimizers.get(name)).__name__


def _multi(o):
    return o.MultiOptimizer(
        o.OptimizerMap(o.SGD(name="sgd"), {"enc/.*": o.Adam(name="adam")}), name="multi"
    )


@pytest.mark.parity
def test_multi_optimizer_config_matches_keras() -> None:
    ours = _multi(optimizers).get_config()
    theirs = _multi(keras.optimizers).get_config()

    def strip(cfg):  # Keras names the torch-backend module of inner optimizers
        cfg = json.loads(json.dumps(cfg))
        inner = cfg["optimizer_map"]["config"]
        for ref in [inner["default_optimizer"], *inner["optimizer_map"].values()]:
            ref.pop("module"), ref.pop("registered_name")
        return cfg

    assert strip(ours) == strip(theirs)
    again = optimizers.deserialize(optimizers.serialize(_multi(optimizers)))
    assert isinstance(again, optimizers.MultiOptimizer)
    assert again.get_config() == ours


def test_optimizer_map_lookup() -> None:
    adam, sgd, rms = optimizers.Adam(), optimizers.SGD(), optimizers.RMSprop()
    mapping = optimizers.OptimizerMap(rms)
    mapping["encoder/layer_0/dense"] = adam
    mapping["encoder/.*"] = sgd
    assert mapping["encoder/layer_0/dense"] is adam
    assert mapping["encoder/layer_0/attention"] is sgd
    assert mapping["decoder/dense"] is rms
    with pytest.raises(ValueError, match="already exists"):
        mapping["encoder/.*"] = adam
    mapping[".*/attention"] = adam
    with pytest.raises(ValueError, match="Multiple optimizers"):
        mapping["encoder/attention"]
    with pytest.raises(ValueError, match="MultiOptimizer"):
        mapping["x"] = optimizers.MultiOptimizer(optimizers.OptimizerMap(optimizers.SGD()))
    with pytest.raises(TypeError, match="default_optimizer"):
        optimizers.OptimizerMap("sgd")


def test_multi_optimizer_learning_rate_and_variables() -> None:
    model = _net(convolve)
    opt = optimizers.MultiOptimizer(
        optimizers.OptimizerMap(optimizers.SGD(), {"net/out/.*": optimizers.Adam()})
    )
    with pytest.raises(AttributeError, match="sub-optimizers"):
        opt.learning_rate  # noqa: B018
    opt.build(model.trainable_weights)
    assert [type(o).__name__ for o in opt.optimizers] == ["Adam", "SGD"]
    # own iteration and learning rate, Adam's 2 + 4 slots, SGD's 2
    assert len(opt.variables) == 2 + 6 + 2
    values = [v.detach().clone() + 1 for v in opt.variables]
    opt.set_weights(values)
    for v, w in zip(opt.variables, values, strict=True):
        torch.testing.assert_close(v.float(), w.float())


def test_callable_map() -> None:
    adam, sgd = optimizers.Adam(), optimizers.SGD()
    opt = optimizers.MultiOptimizer(lambda v: adam if v.path.endswith("bias") else sgd)
    model = _net(convolve)
    opt.build(model.trainable_weights)
    assert {id(o) for o in opt.optimizers} == {id(adam), id(sgd)}
    with pytest.raises(ValueError, match="cannot be serialized"):
        opt.get_config()


@pytest.mark.parametrize(
    "make",
    [
        lambda: optimizers.Muon(learning_rate=0.02),
        lambda: optimizers.ScheduleFreeAdamW(learning_rate=0.01),
        lambda: optimizers.MultiOptimizer(
            optimizers.OptimizerMap(
                optimizers.SGD(0.1, momentum=0.9), {".*out/.*": optimizers.Adam(0.01)}
            )
        ),
    ],
)
def test_model_file_round_trip_resumes_exactly(make, tmp_path) -> None:
    model = _net(convolve)
    model.compile(optimizer=make(), loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(16, 6, 6, 2)).astype("float32")
    y = rng.integers(0, 4, 16)
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = convolve.saving.load_model(path)
    assert type(loaded.optimizer) is type(model.optimizer)
    assert len(loaded.optimizer.variables) == len(model.optimizer.variables)
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    loaded.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_state_dict_round_trip() -> None:
    model = _net(convolve)
    opt = optimizers.MultiOptimizer(
        optimizers.OptimizerMap(optimizers.Muon(0.02), {"net/conv/.*": optimizers.Adam()})
    )
    opt.build(model.trainable_weights)
    for p in model.trainable_weights:
        p.grad = torch.ones_like(p)
    opt.step()
    state = {k: v for k, v in opt.state_dict().items()}
    copy = optimizers.MultiOptimizer(
        optimizers.OptimizerMap(optimizers.Muon(0.02), {"net/conv/.*": optimizers.Adam()})
    )
    copy.build(model.trainable_weights)
    copy.load_state_dict(state)
    assert copy.iterations == 1
    for a, b in zip(copy.variables, opt.variables, strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: optimizers.Muon(ns_steps=-1), "ns_steps"),
        (lambda: optimizers.Muon(exclude_layers="dense"), "exclude_layers"),
        (lambda: optimizers.Muon(momentum=2.0), "momentum"),
        (lambda: optimizers.ScheduleFreeAdamW(warmup_steps=1.5), "warmup_steps"),
        (lambda: optimizers.ScheduleFreeAdamW(beta_2=1.0), "beta_2"),
        (lambda: optimizers.MultiOptimizer("sgd"), "optimizer_map"),
    ],
)
def test_bad_arguments(make, match) -> None:
    with pytest.raises(ValueError, match=match):
        make()


def test_newton_schulz_orthogonalises() -> None:
    # Reference: the SVD's U V^T; the quintic iteration leaves singular values near 1.
    x = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    out = optimizers.Muon().zeropower_via_newtonschulz5(x, 5)
    u, _, vh = torch.linalg.svd(x, full_matrices=False)
    singular = torch.linalg.svdvals(out)
    assert singular.min() > 0.5 and singular.max() < 1.3
    cosine = (out * (u @ vh)).sum() / (out.norm() * (u @ vh).norm())
    assert cosine > 0.95
