"""YAML that remembers where each value came from, and a reader that collects mistakes.

Catalogs, layouts and scenarios are all read through here so that every mistake is
reported the same way, as ``FILE:LINE: message``, all at once where possible.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml

from twin.core.errors import InputError, Problem


class YMap(dict):
    """A mapping from a YAML file; ``line`` is where it starts, ``lines[key]`` where each key is."""

    line: int = 0

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.lines: dict[Any, int] = {}

    def line_of(self, key: Any) -> int:
        return self.lines.get(key, self.line)


class YList(list):
    """A sequence from a YAML file; ``lines[i]`` is where item i starts."""

    line: int = 0

    def __init__(self, *args: Any):
        super().__init__(*args)
        self.lines: list[int] = []

    def line_of(self, index: int) -> int:
        return self.lines[index] if 0 <= index < len(self.lines) else self.line


def _convert(node: yaml.Node, loader: yaml.SafeLoader, file: str) -> Any:
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out = YMap()
        out.line = node.start_mark.line + 1
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in out:
                raise InputError([Problem(file, line, f"duplicate key {key!r} (first at line {out.lines[key]})")])
            out[key] = _convert(value_node, loader, file)
            out.lines[key] = line
        return out
    if isinstance(node, yaml.SequenceNode):
        seq = YList()
        seq.line = node.start_mark.line + 1
        for item in node.value:
            seq.append(_convert(item, loader, file))
            seq.lines.append(item.start_mark.line + 1)
        return seq
    return loader.construct_object(node, deep=True)


def load_text(text: str, file: str) -> Any:
    """Parse YAML text; a syntax error becomes ``InputError`` at its line."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        return _convert(node, loader, file)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 0
        what = e.problem or e.context or "invalid YAML"
        raise InputError([Problem(file, line, f"YAML syntax: {what}")]) from None
    except yaml.YAMLError as e:
        raise InputError([Problem(file, 0, f"YAML: {e}")]) from None
    finally:
        loader.dispose()


def load_file(path: str | Path) -> Any:
    """Read and parse a YAML file; an unreadable file is an ``InputError`` too."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise InputError([Problem(str(path), 0, f"cannot read: {e.strerror or e}")]) from None
    except UnicodeDecodeError:
        raise InputError([Problem(str(path), 0, "not a UTF-8 text file")]) from None
    return load_text(text, str(path))


_REQUIRED = object()


class Reader:
    """Reads values out of YAML mappings, collecting every problem instead of stopping.

    >>> r = Reader("x.yaml"); v = r.get(m, "hbm_gb", float)  # doctest: +SKIP
    >>> r.raise_if_any()                                      # doctest: +SKIP
    """

    def __init__(self, file: str):
        self.file = file
        self.problems: list[Problem] = []

    def error(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.file, line, message))

    def mapping(self, value: Any, where: str, line: int = 0) -> YMap | None:
        if isinstance(value, YMap):
            return value
        self.error(getattr(value, "line", line), f"{where}: expected a mapping (key: value), got {_kind(value)}")
        return None

    def sequence(self, value: Any, where: str, line: int = 0) -> YList | None:
        if isinstance(value, YList):
            return value
        if isinstance(value, list):  # built in code rather than read from a file
            seq = YList(value)
            seq.line = line
            seq.lines = [line] * len(value)
            return seq
        self.error(getattr(value, "line", line), f"{where}: expected a list, got {_kind(value)}")
        return None

    def only(self, m: YMap, allowed: Iterable[str], where: str) -> None:
        """Report keys that are not allowed, with the closest allowed one as a hint."""
        allowed = list(allowed)
        for key in m:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else f" (allowed: {', '.join(allowed)})"
                self.error(m.line_of(key), f"{where}: unknown key {key!r}{hint}")

    def get(self, m: YMap, key: str, convert: Callable[[Any], Any], where: str, default: Any = _REQUIRED) -> Any:
        """``convert(m[key])``; a missing required key or a ValueError/TypeError is recorded."""
        if key not in m or m[key] is None:
            if default is _REQUIRED:
                self.error(m.line, f"{where}: missing required key {key!r}")
            return None if default is _REQUIRED else default
        try:
            return convert(m[key])
        except (ValueError, TypeError) as e:
            self.error(m.line_of(key), f"{where}.{key}: {e}")
            return None if default is _REQUIRED else default

    def raise_if_any(self) -> None:
        if self.problems:
            raise InputError(sorted(self.problems, key=lambda p: (p.file, p.line)))


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{value!r}"


def number(value: Any) -> float:
    """A plain number (int or float, not a bool and not text)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {value!r}")
    return float(value)


def positive(value: Any) -> float:
    v = number(value)
    if v <= 0:
        raise ValueError(f"must be greater than 0, got {value!r}")
    return v


def non_negative(value: Any) -> float:
    v = number(value)
    if v < 0:
        raise ValueError(f"cannot be negative, got {value!r}")
    return v


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected a whole number, got {value!r}")
    return value


def positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"expected a whole number greater than 0, got {value!r}")
    return value


def text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected text, got {value!r}")
    return value
