"""`convolve.utils.Config` against `keras.utils.Config`: the same program gives the same
values, iteration order, JSON, repr and errors."""

import copy

import keras
import pytest

import convolve


def _program(lib):
    config = lib.utils.Config(learning_rate=0.1, momentum=0.9)
    config.use_ema = True
    config["seed"] = 123
    seen = [config.seed, config["learning_rate"], config.get("missing", 7), "seed" in config]
    seen += [list(config), sorted(config.keys()), len(config), config.to_json(), repr(config)]
    seen.append(config.pop("momentum"))
    config.update(batch=32)
    del config["use_ema"]
    seen.append(config.as_dict())
    config.freeze()
    errors = []
    for change in (
        lambda: setattr(config, "foo", 1),
        lambda: config.__setitem__("foo", 1),
        lambda: config.pop("seed"),
        lambda: config.update(foo=1),
        lambda: config.__delitem__("seed"),
    ):
        with pytest.raises(ValueError) as info:
            change()
        errors.append(str(info.value))
    seen += [config.frozen, errors]
    config.unfreeze()
    config.foo = 2
    seen.append(config.foo)
    with pytest.raises(AttributeError) as info:
        config.learning_rat  # noqa: B018
    seen.append(str(info.value))
    with pytest.raises(AttributeError) as info:
        config.nothing_like_it  # noqa: B018
    seen.append(str(info.value))
    seen.append(copy.deepcopy(config).as_dict())
    return seen


def test_config_behaves_as_keras_config():
    assert _program(convolve) == _program(keras)


def test_entries_named_like_methods_stay_methods():
    for lib in (convolve, keras):
        config = lib.utils.Config(keys=1)
        assert config["keys"] == 1 and callable(config.keys)
