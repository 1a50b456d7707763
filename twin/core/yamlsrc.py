"""YAML that remembers where each value came from, and a reader that collects mistakes.

Catalogs, layouts and scenarios are all read through here so that every mistake is
reported the same way, as ``FILE:LINE: message``, all at once where possible.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml

from twin.core.errors import InputError, Problem, clip


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


#: What a file may ask of the machine before a single value is read (issue 10): big enough
#: for a 100,000-rack layout written out long-hand, small enough to refuse in a second.
MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_DEPTH = 64  # nesting levels (the deepest built-in file uses 5)
MAX_VALUES = 250_000  # values, also after expanding aliases (a "billion laughs" file has 10^9);
# PyYAML builds ~25,000 values a second, so a file at the limit still reads in seconds
MAX_INT = 2**63 - 1  # a whole number beyond this is a typo, and numpy cannot hold it


class _Refused(Exception):
    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line, self.message = line, message


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


class _Loader(yaml.SafeLoader):
    """The safe loader with a nesting limit while composing (PyYAML recurses per level)."""

    def __init__(self, text: str):
        super().__init__(text)
        self.depth = 0
        self.values = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            return super().compose_node(parent, index)
        self.values += 1
        if self.values > MAX_VALUES:
            raise _Refused(
                self.peek_event().start_mark.line + 1, f"more than {MAX_VALUES:,} values"
            )
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                line = self.peek_event().start_mark.line + 1
                raise _Refused(line, f"nested more than {MAX_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _check_expansion(root: yaml.Node) -> None:
    """Refuse recursive aliases and files whose aliases expand past the limits.

    Sizes and heights are memoised per node, so this costs one visit per distinct node
    however many times aliases repeat it.
    """
    memo: dict[int, tuple[int, int]] = {}  # id(node) -> (values, height); (-1, -1) while open

    def walk(node: yaml.Node, depth: int) -> tuple[int, int]:
        if depth > MAX_DEPTH:
            raise _Refused(
                _line(node), f"nested more than {MAX_DEPTH} levels deep once aliases are expanded"
            )
        seen = memo.get(id(node))
        if seen == (-1, -1):
            raise _Refused(
                _line(node), "an alias refers to the value that contains it (a recursive anchor)"
            )
        if seen is None:
            memo[id(node)] = (-1, -1)
            size, height = 1, 0
            for child in _children(node):
                n, h = walk(child, depth + 1)
                size, height = size + n, max(height, h + 1)
                if size > MAX_VALUES:
                    raise _Refused(
                        _line(node), f"more than {MAX_VALUES:,} values once aliases are expanded"
                    )
            seen = memo[id(node)] = (size, height)
        if depth + seen[1] > MAX_DEPTH:
            raise _Refused(
                _line(node), f"nested more than {MAX_DEPTH} levels deep once aliases are expanded"
            )
        return seen

    walk(root, 0)


def _scalar(node: yaml.Node, loader: yaml.SafeLoader) -> Any:
    try:
        value = loader.construct_object(node, deep=True)
    except (ValueError, OverflowError):  # e.g. an integer over 4,300 digits
        raise _Refused(
            _line(node), f"not a number this program can read: {_clip(node.value)}"
        ) from None
    if isinstance(value, float) and not math.isfinite(value):
        raise _Refused(_line(node), f"numbers must be finite, got {_clip(node.value)}")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
        raise _Refused(
            _line(node), f"number too large (the limit is {MAX_INT:,}): {_clip(node.value)}"
        )
    return value


def _clip(value: Any, limit: int = 60) -> str:
    return clip(str(value), limit)


def _convert(node: yaml.Node, loader: yaml.SafeLoader, file: str) -> Any:
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out = YMap()
        out.line = _line(node)
        for key_node, value_node in node.value:
            line = _line(key_node)
            if not isinstance(key_node, yaml.ScalarNode):
                raise _Refused(
                    line, "a key must be a plain word or number, not a list or mapping ('? [a, b]')"
                )
            key = _scalar(key_node, loader)
            if key in out:
                raise InputError(
                    [
                        Problem(
                            file,
                            line,
                            f"duplicate key {_clip(key)!r} (first at line {out.lines[key]})",
                        )
                    ]
                )
            out[key] = _convert(value_node, loader, file)
            out.lines[key] = line
        return out
    if isinstance(node, yaml.SequenceNode):
        seq = YList()
        seq.line = _line(node)
        for item in node.value:
            seq.append(_convert(item, loader, file))
            seq.lines.append(_line(item))
        return seq
    return _scalar(node, loader)


def load_text(text: str, file: str) -> Any:
    """Parse YAML text; a syntax error or an unsafe file becomes ``InputError`` at its line.

    Refused, each as ``FILE:LINE:``: NUL bytes, nesting deeper than `MAX_DEPTH`, aliases
    that refer to themselves or expand past `MAX_VALUES`, complex keys, numbers that are
    not finite or do not fit in 64 bits.
    """
    if (
        text.count(",") + text.count("\n") > MAX_VALUES
    ):  # every value needs one: refuse before parsing
        raise InputError([Problem(file, 1, f"more than {MAX_VALUES:,} values (commas and lines)")])
    nul = text.find("\x00")
    if nul >= 0:
        raise InputError(
            [Problem(file, text.count("\n", 0, nul) + 1, "a NUL byte: this is not a text file")]
        )
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as e:
        line = text.count("\n", 0, e.position) + 1
        raise InputError(
            [Problem(file, line, f"a control character (#x{e.character:04x}) YAML does not allow")]
        ) from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node)
        return _convert(node, loader, file)
    except _Refused as e:
        raise InputError([Problem(file, e.line, e.message)]) from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 0
        what = e.problem or e.context or "invalid YAML"
        raise InputError([Problem(file, line, f"YAML syntax: {what}")]) from None
    except yaml.YAMLError as e:
        raise InputError([Problem(file, 1, f"YAML: {_clip(e, 200)}")]) from None
    except RecursionError:
        raise InputError([Problem(file, 1, f"nested more than {MAX_DEPTH} levels deep")]) from None
    finally:
        loader.dispose()


def load_file(path: str | Path) -> Any:
    """Read and parse a YAML file; an unreadable or oversized file is an ``InputError`` too."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InputError(
                [
                    Problem(
                        str(path),
                        1,
                        f"file too large ({size / 2**20:,.1f} MB; the limit is "
                        f"{MAX_FILE_BYTES // 2**20} MB)",
                    )
                ]
            )
        with path.open("rb") as fh:  # a FIFO or device could claim size 0 and stream forever
            raw = fh.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            raise InputError(
                [
                    Problem(
                        str(path), 1, f"file too large (the limit is {MAX_FILE_BYTES // 2**20} MB)"
                    )
                ]
            )
        text = raw.decode("utf-8")
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
        self.error(
            getattr(value, "line", line),
            f"{where}: expected a mapping (key: value), got {_kind(value)}",
        )
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
                hint = (
                    f" (did you mean {close[0]!r}?)"
                    if close
                    else f" (allowed: {', '.join(allowed)})"
                )
                self.error(m.line_of(key), f"{where}: unknown key {key!r}{hint}")

    def get(
        self, m: YMap, key: str, convert: Callable[[Any], Any], where: str, default: Any = _REQUIRED
    ) -> Any:
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
        raise ValueError(f"expected a number, got {_clip(value)!r}")
    if not math.isfinite(float(value)):
        raise ValueError(f"must be a finite number, got {value!r}")
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
