"""Declared parameters: one validation layer for every detector knob and command-line number.

A detector declares its tuning knobs once, as a tuple of :class:`Param` on the
class (``parameters``): name, type, default, range or choices, whether it must
be finite, when it applies, and a help line. :func:`check_params` is the one
place that turns what a caller gave (Python values, or the strings of
``-p KEY=VALUE``) into typed values, or refuses them with a message that names
the parameter, what it must be and what was given. It runs in
:class:`~sitewatch.detectors.base.Detector`'s constructor, so the in-memory
path, the block runners, the CLI and the Python API all go through it; the CLI
also uses :meth:`Param.coerce` for its own numbers (``--min-area`` and the like).

A parameter that would not be used is an error, never silently recorded: a
name the detector does not declare, or a value given for a parameter whose
condition (``applies``) does not hold, such as a false-alarm rate ``far`` with
a histogram threshold. :func:`applicable` gives the parameters in effect, which
is what outputs record.

Examples
--------
>>> spec = (Param("threshold", "far", "How to cut.", kind=float, low=0,
...               choices=("far", "otsu")),
...         Param("far", 0.01, "False-alarm rate.", low=0, high=1, low_open=True,
...               high_open=True, applies={"threshold": ("far",)}))
>>> check_params(spec, {"far": "0.05"})
{'threshold': 'far', 'far': 0.05}
>>> check_params(spec, {"far": "abc"}, owner="cva")
Traceback (most recent call last):
...
sitewatch.errors.ParameterError: cva: far must be a number in (0, 1), got 'abc'
>>> check_params(spec, {"threshold": "otsu", "far": 0.2}, owner="cva")
Traceback (most recent call last):
...
sitewatch.errors.ParameterError: cva: far is used only when threshold is far (here ...
>>> applicable(spec, check_params(spec, {"threshold": "otsu"}))
{'threshold': 'otsu'}
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sitewatch.errors import ParameterError

__all__ = ["Param", "check_params", "applicable", "with_params", "describe_params"]

_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")
_NONE = ("none", "null", "default")


@dataclass(frozen=True)
class Param:
    """One declared parameter: its type, default, allowed values and when it applies.

    Parameters
    ----------
    name : str
        Keyword name (``-p NAME=VALUE`` on the command line).
    default : object
        Value when not given (``None`` only with ``optional=True``).
    help : str
        One line for ``sitewatch detectors NAME`` and the docs.
    kind : {float, int, bool, str}
        Type of the value; strings from the command line are converted to it.
    low, high : float, optional
        Range of a number; ``low_open``/``high_open`` exclude the bound itself.
    choices : tuple of str
        Allowed words: the only values of a ``str`` parameter, or words allowed
        besides a number (``threshold="otsu"`` or ``threshold=0.2``).
    optional : bool
        ``None`` is allowed (``none`` on the command line): "use the detector's own".
    finite : bool
        Refuse NaN and infinities (numbers only).
    applies : dict, optional
        ``{other: (values...)}``: the parameter is used only while the other
        parameter has one of these values; giving it otherwise is an error.

    Examples
    --------
    >>> Param("block", 5, "Neighbourhood size.", kind=int, low=2, high=15).coerce("7")
    7
    >>> Param("normalize", False, kind=bool).coerce("yes")
    True
    >>> Param("enl", 4.4, low=0, low_open=True).describe()
    'a number > 0'
    """

    name: str
    default: Any
    help: str = ""
    kind: type = float
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] = ()
    optional: bool = False
    finite: bool = True
    applies: Mapping[str, tuple[Any, ...]] | None = field(default=None, compare=False)

    # -- description --------------------------------------------------------------
    def _range(self) -> str:
        lo, hi = self.low, self.high
        if lo is not None and hi is not None:
            return (f" in {'(' if self.low_open else '['}{lo:g}, {hi:g}"
                    f"{')' if self.high_open else ']'}")
        if lo is not None:
            return f" {'>' if self.low_open else '>='} {lo:g}"
        if hi is not None:
            return f" {'<' if self.high_open else '<='} {hi:g}"
        return ""

    def describe(self) -> str:
        """What a value must be, in words ("a number in (0, 1)", "one of a, b")."""
        if self.kind is bool:
            text = "true or false"
        elif self.kind is str:
            text = f"one of {', '.join(self.choices)}" if self.choices else "a text"
        else:
            noun = "a whole number" if self.kind is int else "a number"
            text = noun + self._range()
            if self.choices:
                text += f" or one of {', '.join(self.choices)}"
        if self.optional:
            text += " or none"
        return text

    def condition(self) -> str:
        """When the parameter applies, in words ('' when always)."""
        if not self.applies:
            return ""
        return " and ".join(f"{k} is {' or '.join(str(v) for v in vals)}"
                            for k, vals in self.applies.items())

    def applies_to(self, values: Mapping[str, Any]) -> bool:
        """Whether the parameter is used under the other parameters' ``values``."""
        return all(values.get(k) in vals for k, vals in (self.applies or {}).items())

    # -- conversion ---------------------------------------------------------------
    def _fail(self, value: Any, why: str = "") -> ParameterError:
        shown = value if isinstance(value, str) else _short(value)
        return ParameterError(f"{self.name} must be {self.describe()}, got {shown!r}{why}")

    def coerce(self, value: Any) -> Any:
        """``value`` (a Python value or a command-line string) as this parameter's type.

        Raises
        ------
        ParameterError
            Naming the parameter, what it must be and what was given.
        """
        text = value.strip() if isinstance(value, str) else None
        if value is None or (text is not None and text.lower() in _NONE and self.optional):
            if self.optional:
                return None
            raise self._fail(value)
        if self.kind is bool:
            return self._coerce_bool(value, text)
        if self.kind is str:
            if text is None:
                raise self._fail(value)
            if self.choices and text not in self.choices:
                low = text.lower()
                match = [c for c in self.choices if c.lower() == low]
                if not match:
                    raise self._fail(value, _suggest(text, self.choices))
                text = match[0]
            if not text:
                raise self._fail(value)
            return text
        if text is not None and self.choices:
            match = [c for c in self.choices if c.lower() == text.lower()]
            if match:
                return match[0]
        return self._coerce_number(value, text)

    def _coerce_bool(self, value: Any, text: str | None) -> bool:
        if isinstance(value, bool):
            return value
        if text is not None:
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
        elif isinstance(value, numbers.Integral) and int(value) in (0, 1):
            return bool(value)
        elif str(getattr(value, "dtype", "")) == "bool":  # a numpy bool
            return bool(value)
        raise self._fail(value)

    def _coerce_number(self, value: Any, text: str | None) -> Any:
        if text is not None:
            try:
                num: float = float(text)
            except ValueError:
                raise self._fail(value, _suggest(text, self.choices)) from None
        elif isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise self._fail(value)
        else:
            num = float(value)
        if math.isnan(num) or (math.isinf(num) and self.finite):
            raise self._fail(value, " (not a finite number)")
        out: float | int = num
        if self.kind is int:
            if math.isinf(num) or num != int(num):
                raise self._fail(value)
            out = int(num)
        elif isinstance(value, numbers.Integral) and text is None:
            out = int(value)  # a Python int stays an int (recorded as given)
        lo, hi = self.low, self.high
        too_low = lo is not None and (num < lo or (self.low_open and num == lo))
        too_high = hi is not None and (num > hi or (self.high_open and num == hi))
        if too_low or too_high:
            raise self._fail(value)
        return out


def _short(value: Any) -> Any:
    text = repr(value)
    return value if len(text) <= 60 else text[:57] + "..."


def _suggest(text: str, names: Iterable[str]) -> str:
    close = difflib.get_close_matches(text, list(names), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def check_params(parameters: Sequence[Param], given: Mapping[str, Any], *,
                 owner: str = "") -> dict[str, Any]:
    """Every declared parameter's value: the defaults, overridden by ``given`` (validated).

    Parameters
    ----------
    parameters : sequence of Param
        The declaration (a detector's ``parameters``).
    given : mapping
        What the caller set: Python values or command-line strings.
    owner : str
        Named at the start of every message (the detector's name).

    Returns
    -------
    dict
        Name -> typed value, in declaration order.

    Raises
    ------
    ParameterError
        For a name that is not declared, a value of the wrong type or outside
        its range, a non-finite number, or a parameter that would not be used.
    """
    where = f"{owner}: " if owner else ""
    by_name = {p.name: p for p in parameters}
    for key in given:
        if key not in by_name:
            known = ", ".join(by_name) or "none"
            head = f"{owner} has no parameter {key!r}" if owner else f"no parameter {key!r}"
            raise ParameterError(f"{head}{_suggest(str(key), by_name)}: its parameters are "
                                 f"{known} (`sitewatch detectors NAME` lists them)")
    values = {p.name: p.default for p in parameters}
    for key, raw in given.items():
        try:
            values[key] = by_name[key].coerce(raw)
        except ParameterError as err:
            raise ParameterError(f"{where}{err}") from None
    for key in given:
        p = by_name[key]
        if not p.applies_to(values):
            other = next(k for k, vals in (p.applies or {}).items() if values.get(k) not in vals)
            first = (p.applies or {})[other][0]
            raise ParameterError(f"{where}{key} is used only when {p.condition()} (here {other} "
                                 f"is {values.get(other)!r}): also set {other}={first}, or "
                                 f"leave {key} out")
    return values


def applicable(parameters: Sequence[Param], values: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters in effect under ``values`` (those whose condition holds).

    Examples
    --------
    >>> spec = (Param("t", "a", kind=str, choices=("a", "b")),
    ...         Param("x", 1.0, applies={"t": ("a",)}))
    >>> applicable(spec, {"t": "b", "x": 1.0})
    {'t': 'b'}
    """
    return {p.name: values[p.name] for p in parameters
            if p.name in values and p.applies_to(values)}


def with_params(base: Sequence[Param], *params: Param, **defaults: Any) -> tuple[Param, ...]:
    """A subclass's declaration: ``base`` with ``params`` added or replaced (by name) and
    new ``defaults``.

    Examples
    --------
    >>> base = (Param("threshold", "far", kind=str, choices=("far", "otsu")),)
    >>> spec = with_params(base, Param("normalize", False, kind=bool), threshold="otsu")
    >>> [(p.name, p.default) for p in spec]
    [('threshold', 'otsu'), ('normalize', False)]
    """
    out = {p.name: p for p in base}
    for p in params:
        out[p.name] = p
    for name, value in defaults.items():
        if name not in out:
            raise ParameterError(f"no parameter {name!r} to give a default")
        out[name] = replace(out[name], default=out[name].coerce(value))
    return tuple(out.values())


def describe_params(parameters: Sequence[Param]) -> list[tuple[str, str]]:
    """Per parameter: "name = default  (what it must be; when it applies)" and its help.

    Examples
    --------
    >>> describe_params([Param("enl", 4.4, "Equivalent number of looks.", low=0,
    ...                        low_open=True)])
    [('enl = 4.4  (a number > 0)', 'Equivalent number of looks.')]
    """
    out = []
    for p in parameters:
        cond = f"; used only when {p.condition()}" if p.applies else ""
        out.append((f"{p.name} = {p.default!r}  ({p.describe()}{cond})", p.help))
    return out
