"""Settings declared once: a config dataclass field carries its default, unit and help.

    k: int = setting(10, "Number of classes to find.", bounds="[2, inf)")
    lr: float = setting(3e-2, "Adam learning rate of the task encoder.", bounds="(0, inf)")

`bounds` is an interval, "[" / "]" closed, "(" / ")" open; a number with bounds must also be
finite (nan and inf are refused). `check_bounds(obj)` checks every field that declares them.

From those fields follow the rest, so a default is written in one place:
- estimators (`Hume`, `SeedSelector`) take the fields as keyword parameters and keep the
  scikit-learn contract (`ConfigParams`: `__init__` stores, `get_params`/`set_params`/`clone`);
- the CLI builds its options from them (hume_ssl.cli.options);
- a renamed field keeps its old name for one release (`renamed_fields`), with a warning.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import importlib
import inspect
import math
import numbers
import re
import warnings
from typing import Any, Optional

import numpy as np
from sklearn.base import BaseEstimator

from hume_ssl.core.errors import HumeSSLError, NotFittedError

REMOVED_IN = "0.3"  # the release in which deprecated names go


class UnknownParameterError(HumeSSLError, ValueError):
    """A keyword that is no parameter of an estimator or config (a ValueError, as scikit-learn's
    own `set_params` raises, and a HumeSSLError, as the CLI prints)."""


def setting(
    default: Any = dataclasses.MISSING,
    help: str = "",
    *,
    unit: Optional[str] = None,
    factory: Any = dataclasses.MISSING,
    bounds: Optional[str] = None,
    **cli: Any,
) -> Any:
    """A dataclass field whose metadata holds its help text, unit and `bounds` (an interval such
    as "(0, inf)" or "[1, 64]", see `Bounds`); `cli` holds keywords for the command line
    (hume_ssl.cli.options: `flag`, `flags`, `hidden`)."""
    if bounds is not None:
        Bounds.parse(bounds)  # a malformed interval fails where it is declared
    meta = {"help": help, "unit": unit, "cli": cli, "bounds": bounds}
    if factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


_INTERVAL = re.compile(r"^\s*([\[(])\s*([^,\s]+)\s*,\s*([^\]\)\s]+)\s*([\])])\s*$")


FLOAT32_MAX = float(np.finfo(np.float32).max)  # every number a run computes with is a float32


@dataclasses.dataclass(frozen=True)
class Bounds:
    """An interval of allowed values: low/high (None: unbounded), each closed or open. Every
    value checked against it must be a finite number, within float32's range (FLOAT32_MAX: the
    tensors' type; 1e300 would overflow in the first step)."""

    low: Optional[float]
    high: Optional[float]
    low_closed: bool
    high_closed: bool

    @classmethod
    def parse(cls, text: str) -> Bounds:
        m = _INTERVAL.match(text)
        if not m:
            raise ValueError(f"bounds {text!r}: write an interval such as '(0, inf)' or '[1, 8]'")
        lo, hi = float(m.group(2)), float(m.group(3))
        return cls(None if lo == -math.inf else lo, None if hi == math.inf else hi,
                   m.group(1) == "[", m.group(4) == "]")

    def __contains__(self, value: Any) -> bool:
        if isinstance(value, np.ndarray) and value.ndim == 0:  # np.array(0.9): its number
            value = value.item()
        if not isinstance(value, numbers.Real):  # a string '0.1' too: float() would take it
            return False
        try:
            v = float(value)
        except (TypeError, ValueError, OverflowError):  # OverflowError: an int past floats
            return False
        if isinstance(value, bool) or not math.isfinite(v) or abs(v) > FLOAT32_MAX:
            return False
        if self.low is not None and (v < self.low or (v == self.low and not self.low_closed)):
            return False
        return self.high is None or v < self.high or (v == self.high and self.high_closed)

    def describe(self, whole: bool = False) -> str:
        """'a finite number, above 0', 'a number in [0, 1)', 'a whole number, at least 1'
        (`whole`: the setting is an integer), ..."""
        fmt = lambda v: f"{v:g}"  # noqa: E731
        kind = "a whole number" if whole else "a finite number"
        if self.low is not None and self.high is not None:
            return (f"{'a whole number' if whole else 'a number'} in "
                    f"{'[' if self.low_closed else '('}{fmt(self.low)}, "
                    f"{fmt(self.high)}{']' if self.high_closed else ')'}")
        if self.low is not None:
            return f"{kind}, {'at least' if self.low_closed else 'above'} {fmt(self.low)}"
        if self.high is not None:
            return f"{kind}, {'at most' if self.high_closed else 'below'} {fmt(self.high)}"
        return kind


def flag_of(f: dataclasses.Field) -> str:
    """How messages name a field: its option (`flag`, else --name-with-dashes), or its Python
    name when it is no option of any command (`flag=None`)."""
    cli = f.metadata.get("cli", {})
    if "flag" in cli and cli["flag"] is None:
        return f.name
    return cli.get("flag") or "--" + f.name.replace("_", "-")


def is_whole(value: Any) -> bool:
    """An int (Python or numpy), not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_value(flag: str, value: Any, bounds: Optional[str], whole: bool = False) -> None:
    """Raise HumeSSLError naming `flag` when `value` (None: unset, allowed) is outside
    `bounds`, or (`whole`: the setting counts something) is not a whole number."""
    if value is None:
        return
    if whole and not is_whole(value):
        raise HumeSSLError(f"{flag} {value!r}: must be a whole number.")
    if bounds is None:
        return
    b = Bounds.parse(bounds)
    if value not in b:
        shown = f"{value:g}" if isinstance(value, float) else (
            value if isinstance(value, numbers.Real) else repr(value))
        if isinstance(value, int) and abs(value) >= 10**20:  # 10**400: not 400 digits
            shown = f"~1e{len(str(abs(value))) - 1}"
        huge = (isinstance(value, (int, float)) and not isinstance(value, bool)
                and abs(value) > FLOAT32_MAX and not (isinstance(value, float)
                                                      and math.isinf(value)))
        raise HumeSSLError(f"{flag} {shown}: must be {b.describe(whole)}"
                           + (f" (beyond float32's largest, {FLOAT32_MAX:.1e})" if huge else "")
                           + ".")


def counts(f: dataclasses.Field) -> bool:
    """The field is annotated int (or Optional[int]): its values are whole numbers."""
    return _annotated(f) in ("int", "Optional[int]", "int | None")


def check_bounds(obj: Any, names: Optional[list[str]] = None) -> Any:
    """Check every field of the dataclass `obj` (or only `names`), before any work: a field
    annotated int must hold a whole number, one that declares `bounds` must lie in them, one
    annotated bool must hold True or False; None only where the field is Optional. Returns
    `obj`."""
    for f in dataclasses.fields(obj):
        if names is None or f.name in names:
            try:
                _check_field(f, getattr(obj, f.name))
            except HumeSSLError as e:
                if flag_of(f) in (f.name, "--" + f.name.replace("_", "-")):
                    raise
                # the flag differs from the Python name (--restarts: n_restarts): give both
                raise HumeSSLError(f"{str(e).rstrip('.')} (Python: {f.name}).") from None
    return obj


def _check_field(f: dataclasses.Field, value: Any) -> None:
    bounds = f.metadata.get("bounds")
    if value is None and (counts(f) or bounds) and not _optional(f):  # lr=None
        kind = "a whole number" if counts(f) else "a number"
        raise HumeSSLError(f"{flag_of(f)} None: must be {kind} (e.g. {default_of(f)!r}, the "
                           "default).")
    if _annotated(f) == "bool" and not isinstance(value, (bool, np.bool_)):
        raise HumeSSLError(f"{flag_of(f)} {value!r}: must be True or False.")
    check_value(flag_of(f), value, bounds, counts(f))


def _annotated(f: dataclasses.Field) -> str:
    """The field's annotation as written (`int`, `Optional[float]`, ...)."""
    t = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    return t.replace("typing.", "")


def _optional(f: dataclasses.Field) -> bool:
    t = f.type if isinstance(f.type, str) else str(f.type)
    return "Optional" in t or "None" in t


def help_of(f: dataclasses.Field) -> str:
    """A field's help text with its unit and its range (`bounds`), as `--help` shows it."""
    text, unit = f.metadata.get("help", ""), f.metadata.get("unit")
    bounds = f.metadata.get("bounds")
    if unit:
        text += f" Unit: {unit}."
    if bounds:
        text += f" Range: {Bounds.parse(bounds).describe(counts(f))}."
    return text


def units_of(config: Any, prefix: str = "") -> dict[str, str]:
    """{field: its unit} of a config dataclass (class or instance), nested configs' fields as
    "view.crop_scale": the "units" a run writes to its config.json."""
    units = {}
    for f in dataclasses.fields(config):
        default = default_of(f)
        if dataclasses.is_dataclass(default):
            units.update(units_of(default, f"{prefix}{f.name}."))
        elif f.metadata.get("unit"):
            units[prefix + f.name] = f.metadata["unit"]
    return units


def default_of(f: dataclasses.Field) -> Any:
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


def warn_renamed(old: str, new: str, stacklevel: int = 3) -> None:
    """The one warning for a renamed parameter or option: it names the new one."""
    warnings.warn(
        f"{old} is deprecated: use {new} (the old name goes in {REMOVED_IN}).",
        FutureWarning,
        stacklevel=stacklevel,
    )


def moved(module: str, homes: dict[str, str]):
    """A module's `__getattr__` for names that moved to other modules (name: its new module):
    they still import from the old one for one release, with a warning naming the new place.

        __getattr__ = moved(__name__, {"from_array": "hume_ssl.data.image_dataset"})
    """

    def __getattr__(name: str):
        if name not in homes:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        warn_renamed(f"{module}.{name}", f"{homes[name]}.{name}")
        return getattr(importlib.import_module(homes[name]), name)

    __getattr__.homes = dict(homes)
    return __getattr__


def rename_params(params: dict, renamed: dict[str, str], stacklevel: int = 4) -> dict:
    """`params` with every old name in `renamed` (old -> new) replaced by its new one."""
    out = dict(params)
    for old, new in renamed.items():
        if old in out:
            warn_renamed(old, new, stacklevel)
            if new in out:
                raise HumeSSLError(f"give {new} or its old name {old}, not both.")
            out[new] = out.pop(old)
    return out


def check_known(params: dict, valid: list[str], owner: str) -> None:
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise UnknownParameterError(
            f"unknown {owner} option(s) {unknown}; valid: {', '.join(valid)}."
        )


def renamed_fields(**old_to_new: str):
    """Class decorator for a config dataclass: the old field names still work for one release
    as constructor keywords and as read-only attributes, with a warning naming the new one."""

    def wrap(cls):
        init = cls.__init__

        def __init__(self, *args, **kwargs):
            init(self, *args, **rename_params(kwargs, old_to_new))

        __init__.__signature__ = inspect.signature(init)
        __init__.__doc__ = init.__doc__
        cls.__init__ = __init__
        cls.RENAMED = dict(old_to_new)
        for old, new in old_to_new.items():
            setattr(cls, old, property(lambda self, o=old, n=new: _read_renamed(self, o, n)))
        return cls

    return wrap


def _read_renamed(obj, old: str, new: str):
    warn_renamed(old, new)
    return getattr(obj, new)


def clean_fit(fit):
    """Wrap an estimator's `fit` (ConfigParams does it for every subclass that defines one): it
    starts from an unfitted estimator, and one that fails (bad input found late, Ctrl-C) leaves
    it unfitted, never the learned attributes of an earlier fit beside half of its own
    (`predict` then says NotFittedError). Only the outermost `fit` forgets: a subclass's `fit`
    that sets an attribute and calls `super().fit` keeps it."""
    if getattr(fit, "clean_fit", False):
        return fit

    @functools.wraps(fit)
    def wrapped(self, *args, **kwargs):
        if self.__dict__.get("_fitting"):  # called by a subclass's fit: it forgot already
            return fit(self, *args, **kwargs)
        self._forget_learned()
        self._fitting = True
        try:
            return fit(self, *args, **kwargs)
        except BaseException:
            self._forget_learned()
            raise
        finally:
            self._fitting = False

    wrapped.clean_fit = True
    return wrapped


class ConfigParams(BaseEstimator):
    """The scikit-learn estimator contract over a config dataclass.

    Each field of `config_class` is a keyword parameter of `__init__`, stored as-is on the
    instance (checked in `fit`, through the config); `get_params`, `set_params` and
    `sklearn.base.clone` follow. A subclass sets `config_class` (and, to take only some fields,
    `param_names`), calls `_store(config, params)` in its `__init__` and `_signature(...)` after
    its definition. `self.config` is the config those parameters make. Every subclass's `fit`
    is wrapped by `clean_fit`: it starts unfitted, and a failed one leaves it unfitted.
    """

    config_class: type
    param_names: Optional[tuple[str, ...]] = None  # None: every field
    owner = "estimator"  # in error messages: "unknown HUME option(s) ..."
    serves: dict = {}  # config fields it takes no parameter for, with the value it stands for

    @classmethod
    def _fields(cls) -> list[dataclasses.Field]:
        fields = dataclasses.fields(cls.config_class)
        if cls.param_names is None:
            return list(fields)
        return [f for f in fields if f.name in cls.param_names]

    @classmethod
    def _signature(cls, **extra: Any) -> None:
        """Give `__init__` the signature scikit-learn reads: self, every field, then `extra`."""
        kw = inspect.Parameter.KEYWORD_ONLY
        params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        params += [inspect.Parameter(f.name, kw, default=default_of(f)) for f in cls._fields()]
        params += [inspect.Parameter(n, kw, default=v) for n, v in extra.items()]
        cls.__init__.__signature__ = inspect.Signature(params)

    def _store(self, config: Any, params: dict) -> None:
        renamed = getattr(self.config_class, "RENAMED", {})
        params = rename_params(params, renamed, stacklevel=5)
        names = [f.name for f in self._fields()]
        check_known(params, names, self.owner)
        if config is not None and not dataclasses.is_dataclass(config):
            name = type(self).__name__
            raise TypeError(f"{name}({config!r}): settings are keywords (e.g. {name}("
                            f"{names[0]}={config!r})); a config goes to {name}.from_config.")
        if config is not None:
            warn_renamed(f"{type(self).__name__}(config)",
                         f"{type(self).__name__}.from_config(config)", stacklevel=4)
        for f in self._fields():
            if f.name in params:
                value = params[f.name]
            elif config is not None:
                value = getattr(config, f.name)
            else:
                value = default_of(f)
            setattr(self, f.name, value)
        if config is not None:
            self._check_config(config, "(config)")

    @classmethod
    def _check_config(cls, config: Any, how: str) -> None:
        """Refuse a config this estimator would read only in part (`how`: ".from_config" or
        "(config)", for the message); a subclass whose config holds settings of other
        estimators says which (seeds.config.RuleSelector)."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "fit" in cls.__dict__:  # every fit starts unfitted and leaves no half (clean_fit)
            cls.fit = clean_fit(cls.__dict__["fit"])

    def _learned(self) -> list[str]:
        """The names of the attributes `fit` learned (`labels_`, ...)."""
        return [a for a in vars(self) if a.endswith("_") and not a.startswith("_")]

    def _forget_learned(self) -> None:
        """Drop every learned attribute: the estimator is unfitted again."""
        for name in self._learned():
            delattr(self, name)

    def __getattr__(self, name: str):
        """Only reached for a missing attribute: a learned one (`labels_`) before `fit` says so."""
        learned = self._learned()
        if name.endswith("_") and not name.startswith("_") and not learned:
            raise NotFittedError(f"{type(self).__name__}.{name} is learned by fit: call fit(...) "
                                 "first.")
        close = difflib.get_close_matches(name, learned, n=1)  # fitted: a typo (`lables_`)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}"
                             + (f"; did you mean {close[0]!r}?" if close else ""))

    @classmethod
    def from_config(cls, config: Any, **extra: Any):
        """An estimator with the parameters of `config` (its fields this estimator takes; a
        SeedConfig's settings of the seed run around the estimator, such as the kNN's space or
        backend, are for `seed_run`); a config asking for another estimator (`serves`:
        SeedConfig(rule="hume") for the consensus rule's estimator) is an error. `extra`: the
        estimator's parameters outside the config (checkpoint_dir, callback)."""
        defaults = {f.name: default_of(f) for f in dataclasses.fields(config)}
        for name, value in cls.serves.items():  # a config set to ask for another estimator
            if getattr(config, name, value) not in (value, defaults.get(name, value)):
                raise HumeSSLError(f"{cls.__name__}.from_config: the config sets {name}="
                                   f"{getattr(config, name)!r}, but {cls.__name__} is the "
                                   f"estimator of {name}={value!r}.")
        cls._check_config(config, ".from_config")
        twice = sorted(set(extra) & {f.name for f in cls._fields()})
        if twice:  # (before: "got multiple values for keyword argument")
            raise HumeSSLError(f"{cls.__name__}.from_config: {', '.join(twice)} is a setting "
                               "of the config; set it there (dataclasses.replace(config, "
                               f"{twice[0]}=...)), not beside it.")
        return cls(**{f.name: getattr(config, f.name) for f in cls._fields()}, **extra)

    @property
    def config(self):
        """The config these parameters make (a fresh object each time: change parameters with
        `set_params`)."""
        return self.config_class(**{f.name: getattr(self, f.name) for f in self._fields()})

    def set_params(self, **params):
        params = rename_params(params, getattr(self.config_class, "RENAMED", {}))
        fields = [f.name for f in self._fields()]
        check_known(params, fields + [n for n in self._get_param_names() if n not in fields],
                    self.owner)
        return super().set_params(**params)
