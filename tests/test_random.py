"""convolve.random against keras.random: names, signatures, seeding, dtypes, distributions.

Seeded draws (an int or a SeedGenerator) are Keras's values, call after call (atol 1e-6);
unseeded draws come from different generators, so for them shapes, dtypes, ranges and
sample moments are compared (moments of 200,000 draws, each tolerance at least four
standard errors of the estimate).
"""

import inspect
import math
import os
import random as python_random

import keras
import numpy as np
import pytest
import torch

import convolve

LIBS = (convolve, keras)
N = 200_000
FUNCTIONS = [
    "beta", "binomial", "categorical", "dropout", "gamma", "normal", "randint", "shuffle",
    "truncated_normal", "uniform",
]  # fmt: skip


@pytest.fixture(autouse=True)
def restore_random_state(monkeypatch):
    """Puts back the generators (and PYTHONHASHSEED) that set_random_seed changes."""
    monkeypatch.setenv("PYTHONHASHSEED", os.environ.get("PYTHONHASHSEED", "0"))
    states = torch.get_rng_state(), python_random.getstate(), np.random.get_state()
    yield
    torch.set_rng_state(states[0])
    python_random.setstate(states[1])
    np.random.set_state(states[2])


def _numpy(t):
    return t.detach().cpu().numpy()  # both libraries return torch tensors


# ----------------------------------------------------------------- names and signatures
def test_random_has_keras_names():
    theirs = {n for n in dir(keras.random) if not n.startswith("_")}
    assert theirs == {*FUNCTIONS, "SeedGenerator"}
    assert sorted(theirs - set(dir(convolve.random))) == []


def test_random_is_a_top_level_module():
    import convolve.random as module

    assert convolve.random is module


def _parameters(fn):
    return [(p.name, p.default) for p in inspect.signature(fn).parameters.values()]


@pytest.mark.parity
@pytest.mark.parametrize("name", [*FUNCTIONS, "SeedGenerator"])
def test_signature_matches_keras(name):
    ours = _parameters(getattr(convolve.random, name))
    assert ours == _parameters(getattr(keras.random, name))


# ----------------------------------------------------------------- seeding
CALLS = {
    "normal": lambda r, seed: r.normal((3, 4), mean=1.0, stddev=2.0, seed=seed),
    "uniform": lambda r, seed: r.uniform((3, 4), minval=-1.0, maxval=2.0, seed=seed),
    "truncated_normal": lambda r, seed: r.truncated_normal((3, 4), seed=seed),
    "randint": lambda r, seed: r.randint((3, 4), 0, 1000, seed=seed),
    "categorical": lambda r, seed: r.categorical(torch.zeros(3, 50), 8, seed=seed),
    "dropout": lambda r, seed: r.dropout(torch.ones(3, 40), 0.5, seed=seed),
    "shuffle": lambda r, seed: r.shuffle(torch.arange(40), seed=seed),
    "gamma": lambda r, seed: r.gamma((3, 4), 2.0, seed=seed),
    "binomial": lambda r, seed: r.binomial((3, 4), 1000, 0.5, seed=seed),
    "beta": lambda r, seed: r.beta((3, 4), 2.0, 3.0, seed=seed),
}


def _same(a, b):
    return torch.equal(a, b)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_an_int_seed_repeats_its_values(name):
    call = CALLS[name]
    first = call(convolve.random, 7)
    assert _same(first, call(convolve.random, 7))
    assert not _same(first, call(convolve.random, 8))


@pytest.mark.parametrize("name", FUNCTIONS)
def test_a_seed_generator_differs_per_call_and_repeats_its_sequence(name):
    call = CALLS[name]

    def sequence():
        generator = convolve.random.SeedGenerator(11)
        return [call(convolve.random, generator) for _ in range(3)]

    first, again = sequence(), sequence()
    assert not _same(first[0], first[1]) and not _same(first[1], first[2])
    assert all(_same(a, b) for a, b in zip(first, again, strict=True))


@pytest.mark.parametrize("name", FUNCTIONS)
def test_no_seed_follows_the_global_seed(name):
    call = CALLS[name]
    convolve.utils.set_random_seed(3)
    first = [call(convolve.random, None) for _ in range(2)]
    convolve.utils.set_random_seed(3)
    again = [call(convolve.random, None) for _ in range(2)]
    assert not _same(first[0], first[1])
    assert all(_same(a, b) for a, b in zip(first, again, strict=True))


def test_an_unseeded_seed_generator_follows_the_global_seed():
    def draw():
        convolve.utils.set_random_seed(5)
        return convolve.random.normal((4,), seed=convolve.random.SeedGenerator())

    assert _same(draw(), draw())


@pytest.mark.parity
@pytest.mark.parametrize("lib", LIBS, ids=["convolve", "keras"])
def test_a_seed_generator_first_draws_what_its_int_seed_draws(lib):
    first = lib.random.normal((5,), seed=lib.random.SeedGenerator(3))
    assert _same(first, lib.random.normal((5,), seed=3))


@pytest.mark.parity
def test_seed_generator_names_and_config_match_keras():
    def probe(lib):
        lib.backend.clear_session()
        names = [lib.random.SeedGenerator().name, lib.random.SeedGenerator(1).name]
        config = lib.random.SeedGenerator(5, name="g").get_config()
        lib.backend.clear_session()
        return names, config

    assert (
        probe(convolve)
        == probe(keras)
        == (
            ["seed_generator", "seed_generator_1"],
            {"seed": 5, "name": "g"},
        )
    )


def test_seed_generator_from_config_repeats_the_sequence():
    generator = convolve.random.SeedGenerator(9, name="g")
    clone = convolve.random.SeedGenerator.from_config(generator.get_config())
    assert _same(
        convolve.random.uniform((4,), seed=generator), convolve.random.uniform((4,), seed=clone)
    )


@pytest.mark.parity
@pytest.mark.parametrize(
    "make",
    [
        lambda r: r.normal((2,), seed="1"),
        lambda r: r.normal((2,), seed=1.5),
        lambda r: r.SeedGenerator(seed=1.5),
        lambda r: r.SeedGenerator(1, colour="red"),
        lambda r: r.uniform((2,), dtype="int32"),
        lambda r: r.randint((2,), 0, 5, dtype="float32"),
        lambda r: r.categorical(torch.zeros(5), 2),
    ],
)
def test_bad_arguments_are_refused_as_in_keras(make):
    for lib in LIBS:
        with pytest.raises(ValueError):
            make(lib.random)


# ----------------------------------------------------------------- shapes, dtypes, device
DTYPE_CALLS = [
    lambda r: r.normal((2, 3)),
    lambda r: r.normal((2, 3), dtype="float16"),
    lambda r: r.normal((2, 3), dtype="bfloat16"),
    lambda r: r.normal((2, 3), dtype="float64"),
    lambda r: r.uniform(()),
    lambda r: r.uniform((4,), dtype="float64"),
    lambda r: r.truncated_normal((2, 2, 3)),
    lambda r: r.truncated_normal((5,), dtype="float16"),
    lambda r: r.randint((2, 3), 0, 9),
    lambda r: r.randint((7,), -5, 5, dtype="int64"),
    lambda r: r.randint((7,), 0, 200, dtype="uint8"),
    lambda r: r.categorical(torch.zeros(2, 4), 5),
    lambda r: r.categorical(torch.zeros(3, 4), 2, dtype="int64"),
    lambda r: r.dropout(torch.ones(2, 6, dtype=torch.float16), 0.5, seed=1),
    lambda r: r.shuffle(torch.arange(10, dtype=torch.int32).reshape(5, 2)),
    lambda r: r.gamma((2, 3), 1.5),
    lambda r: r.gamma((4, 3), torch.tensor([1.0, 2.0, 3.0])),
    lambda r: r.gamma((2,), 2.0, dtype="float64"),
    lambda r: r.binomial((2, 3), 5, 0.5),
    lambda r: r.binomial((3, 2), torch.tensor([2.0, 9.0]), 0.5),
    lambda r: r.beta((2, 3), 2.0, 3.0),
    lambda r: r.beta((3,), 0.5, 0.5, dtype="float16"),
]


@pytest.mark.parity
@pytest.mark.parametrize("call", DTYPE_CALLS)
def test_shape_and_dtype_match_keras(call):
    ours, theirs = call(convolve.random), call(keras.random)
    assert isinstance(ours, torch.Tensor)
    assert (tuple(ours.shape), ours.dtype) == (tuple(theirs.shape), theirs.dtype)


def test_results_are_on_the_configured_device_or_their_inputs():
    assert convolve.random.normal((2,)).device == convolve.config.device()
    assert convolve.random.gamma((2,), 1.0).device == convolve.config.device()
    x = torch.ones(4)
    assert convolve.random.dropout(x, 0.5).device == x.device


def test_int_shapes_are_accepted():
    assert convolve.random.normal(3).shape == (3,)
    with pytest.raises(ValueError, match="shape"):
        convolve.random.normal((2, None))


# ----------------------------------------------------------------- distributions
def _stats(samples):
    x = _numpy(samples).astype(np.float64).ravel()
    return x.mean(), x.var(), x.min(), x.max()


# name: (draw(random_module), mean, mean tolerance, variance, variance tolerance, low, high)
TRUNCATED_STD = 0.879596  # standard deviation of a unit normal cut at +-2
DISTRIBUTIONS = {
    "normal": (lambda r: r.normal((N,), mean=1.5, stddev=2.0, seed=1), 1.5, 0.03, 4.0, 0.1,
               -math.inf, math.inf),
    "uniform": (lambda r: r.uniform((N,), minval=2.0, maxval=5.0, seed=1), 3.5, 0.01, 0.75, 0.01,
                2.0, 5.0),
    "truncated_normal": (lambda r: r.truncated_normal((N,), mean=1.0, stddev=2.0, seed=1), 1.0,
                         0.02, (2 * TRUNCATED_STD) ** 2, 0.04, -3.0, 5.0),
    "randint": (lambda r: r.randint((N,), 0, 10, seed=1), 4.5, 0.03, 8.25, 0.08, 0, 9),
    "gamma": (lambda r: r.gamma((N,), 2.0, seed=1), 2.0, 0.03, 2.0, 0.1, 0.0, math.inf),
    "binomial": (lambda r: r.binomial((N,), 10, 0.3, seed=1), 3.0, 0.02, 2.1, 0.05, 0, 10),
    "beta": (lambda r: r.beta((N,), 2.0, 3.0, seed=1), 0.4, 0.005, 0.04, 0.002, 0.0, 1.0),
}  # fmt: skip


@pytest.mark.parity
@pytest.mark.parametrize("name", sorted(DISTRIBUTIONS))
def test_moments_and_range_match_the_distribution(name):
    draw, mean, mean_tol, var, var_tol, low, high = DISTRIBUTIONS[name]
    # Keras's draws must meet the same expectations: this checks the parameterisation too.
    for lib in (keras, convolve):
        got_mean, got_var, got_min, got_max = _stats(draw(lib.random))
        assert abs(got_mean - mean) <= mean_tol, (lib.__name__, got_mean)
        assert abs(got_var - var) <= var_tol, (lib.__name__, got_var)
        assert low <= got_min and got_max <= high, (lib.__name__, got_min, got_max)
        if name == "uniform":
            assert got_max < high


def test_discrete_draws_cover_their_support():
    assert set(_numpy(convolve.random.randint((N,), 0, 10, seed=2)).tolist()) == set(range(10))
    counts = _numpy(convolve.random.binomial((N,), 10, 0.3, seed=2))
    assert np.all(counts == np.round(counts))


@pytest.mark.parity
def test_categorical_frequencies_follow_softmax():
    probabilities = np.array([0.2, 0.3, 0.5])
    logits = torch.tensor(np.log(np.stack([probabilities, probabilities[::-1].copy()])))
    for lib in LIBS:
        samples = _numpy(lib.random.categorical(logits, N // 2, seed=1))
        assert samples.shape == (2, N // 2)
        for row, expected in zip(samples, (probabilities, probabilities[::-1]), strict=True):
            freq = np.bincount(row, minlength=3) / row.size
            np.testing.assert_allclose(freq, expected, atol=0.01)


def test_categorical_never_draws_an_impossible_class():
    logits = torch.tensor([[0.0, -math.inf, 0.0]])
    assert 1 not in set(_numpy(convolve.random.categorical(logits, 1000, seed=1)).ravel())


@pytest.mark.parity
def test_dropout_drops_at_rate_and_scales_the_rest():
    for lib in LIBS:
        out = _numpy(lib.random.dropout(torch.ones(N), 0.3, seed=1))
        dropped = out == 0
        assert abs(dropped.mean() - 0.3) <= 0.01, lib.__name__
        np.testing.assert_allclose(out[~dropped], 1 / 0.7, rtol=1e-6)


@pytest.mark.parity
def test_dropout_noise_shape_drops_whole_rows():
    for lib in LIBS:
        out = _numpy(lib.random.dropout(torch.ones(1000, 8), 0.5, noise_shape=(None, 1), seed=1))
        per_row = {tuple(np.unique(row)) for row in out}
        assert per_row == {(0.0,), (2.0,)}, lib.__name__


def test_dropout_edge_rates():
    x = torch.arange(6.0)
    assert torch.equal(convolve.random.dropout(x, 0.0), x)
    assert torch.equal(convolve.random.dropout(x, 1.0), torch.zeros(6))
    with pytest.raises(ValueError, match="rate"):
        convolve.random.dropout(x, 1.5)


@pytest.mark.parity
def test_shuffle_keeps_rows_and_permutes_them():
    x = torch.arange(40).reshape(20, 2)
    for lib in LIBS:
        out = _numpy(lib.random.shuffle(x, seed=4))
        assert np.all(out[:, 1] - out[:, 0] == 1), lib.__name__  # rows moved whole
        assert sorted(out[:, 0].tolist()) == list(range(0, 40, 2))
        assert out[:, 0].tolist() != list(range(0, 40, 2))


@pytest.mark.parity
def test_shuffle_along_a_later_axis_orders_each_leading_slice_apart():
    x = torch.arange(48).reshape(6, 4, 2)
    for lib in LIBS:
        out = _numpy(lib.random.shuffle(x, axis=1, seed=3))
        assert np.all(out[..., 1] - out[..., 0] == 1), lib.__name__  # pairs move together
        orders = [tuple((row[:, 0] - row[:, 0].min()) // 2) for row in out]
        assert all(sorted(o) == [0, 1, 2, 3] for o in orders)
        assert len(set(orders)) > 1, lib.__name__  # each slice has its own order


def test_shuffle_is_uniform_over_positions():
    rows = convolve.random.shuffle(torch.arange(4).repeat(N // 4, 1), axis=1, seed=1)
    first = np.bincount(_numpy(rows[:, 0]), minlength=4) / rows.shape[0]
    np.testing.assert_allclose(first, 0.25, atol=0.01)


SEEDED_CALLS = {
    "normal": lambda r, s: r.normal((5,), mean=1.0, stddev=2.0, seed=s),
    "uniform": lambda r, s: r.uniform((5,), minval=-1, maxval=2, seed=s),
    "randint": lambda r, s: r.randint((5,), 0, 10, seed=s),
    "truncated_normal": lambda r, s: r.truncated_normal((50,), seed=s),
    "categorical": lambda r, s: r.categorical(np.log([[0.2, 0.3, 0.5]]).astype("float32"), 6,
                                              seed=s),
    "dropout": lambda r, s: r.dropout(torch.ones((2, 6)), 0.5, seed=s),
    "shuffle": lambda r, s: r.shuffle(torch.arange(8), seed=s),
    "gamma": lambda r, s: r.gamma((5,), 2.0, seed=s),
    "binomial": lambda r, s: r.binomial((5,), 10.0, 0.3, seed=s),
    "beta": lambda r, s: r.beta((5,), 2.0, 3.0, seed=s),
}  # fmt: skip


@pytest.mark.parity
@pytest.mark.parametrize("name", sorted(SEEDED_CALLS))
def test_seeded_draws_are_kerass_values_call_after_call(name):
    draw = SEEDED_CALLS[name]
    draws = []
    for lib in LIBS:
        generator = lib.random.SeedGenerator(11)
        calls = [draw(lib.random, generator) for _ in range(3)] + [draw(lib.random, 5)]
        draws.append([_numpy(torch.as_tensor(keras.ops.convert_to_numpy(c))) for c in calls])
    for ours, theirs in zip(*draws, strict=True):
        np.testing.assert_allclose(ours, theirs, atol=1e-6)


@pytest.mark.parity
@pytest.mark.parametrize(
    "name", ["GlorotNormal", "HeNormal", "LecunNormal", "TruncatedNormal", "GlorotUniform"]
)
def test_seeded_initializers_give_kerass_weights(name):
    ours = getattr(convolve.initializers, name)(seed=3)((6, 7))
    theirs = getattr(keras.initializers, name)(seed=3)((6, 7))
    np.testing.assert_allclose(_numpy(ours), keras.ops.convert_to_numpy(theirs), atol=1e-6)
