"""A fault's path pattern, matched in time linear in the path (no backtracking).

Python's ``re`` backtracks: ``(a+)+$`` on 25 characters takes seconds. A fault pattern is parsed with
``re``'s own parser, then run as a set of NFA states over the path (Thompson's construction), so
a request costs at most ``len(path) * len(pattern)`` steps, whatever the pattern.
Backreferences, lookarounds and inline flags are refused: they cannot be matched that way.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# re's own parser: re._parser since 3.11 (the old sre_parse name warns there), untyped in typeshed.
_NEW = sys.version_info >= (3, 11)
sre_parse: Any = importlib.import_module("re._parser" if _NEW else "sre_parse")
sre_constants: Any = importlib.import_module("re._constants" if _NEW else "sre_constants")

#: Patterns longer than this are refused (the NFA grows with the pattern, bounded repeats expand).
MAX_PATTERN_STATES = 2_000

CharTest = Callable[[str], bool]
#: Greedy, lazy and (3.11+) possessive repeats all match the same set of paths.
_REPEATS = (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT, getattr(sre_constants, "POSSESSIVE_REPEAT", None))

_CATEGORIES: dict[Any, CharTest] = {
    sre_constants.CATEGORY_DIGIT: str.isdigit,
    sre_constants.CATEGORY_NOT_DIGIT: lambda char: not char.isdigit(),
    sre_constants.CATEGORY_SPACE: str.isspace,
    sre_constants.CATEGORY_NOT_SPACE: lambda char: not char.isspace(),
    sre_constants.CATEGORY_WORD: lambda char: char.isalnum() or char == "_",
    sre_constants.CATEGORY_NOT_WORD: lambda char: not (char.isalnum() or char == "_"),
}


def _equals(code: int) -> CharTest:
    return lambda char: ord(char) == code


def _differs(code: int) -> CharTest:
    return lambda char: ord(char) != code


def _between(low: int, high: int) -> CharTest:
    return lambda char: low <= ord(char) <= high


@dataclass(eq=False)
class _State:
    """One NFA state: consumes a character passing ``test``, or is an epsilon split or an anchor."""

    test: CharTest | None = None
    anchor: str | None = None  # "start" or "end"
    out: list[_State] = field(default_factory=list)


class _Builder:
    def __init__(self) -> None:
        self.count = 0

    def new(self, **kwargs: Any) -> _State:
        self.count += 1
        if self.count > MAX_PATTERN_STATES:
            raise ValueError("path pattern is too long")
        return _State(**kwargs)

    def sequence(self, items: Any) -> tuple[_State, _State]:
        """Build ``items`` (a parsed subpattern) between a fresh entry and exit state."""
        entry = exit_ = self.new()
        for op, arg in items:
            start, end = self.item(op, arg)
            exit_.out.append(start)
            exit_ = end
        return entry, exit_

    def consume(self, test: CharTest) -> tuple[_State, _State]:
        end = self.new()
        return self.new(test=test, out=[end]), end

    def item(self, op: Any, arg: Any) -> tuple[_State, _State]:
        if op is sre_constants.LITERAL:
            return self.consume(_equals(arg))
        if op is sre_constants.NOT_LITERAL:
            return self.consume(_differs(arg))
        if op is sre_constants.ANY:
            return self.consume(lambda char: char != "\n")
        if op is sre_constants.IN:
            return self.consume(_char_class(arg))
        if op is sre_constants.AT:
            if arg in (sre_constants.AT_BEGINNING, sre_constants.AT_BEGINNING_STRING):
                end = self.new()
                return self.new(anchor="start", out=[end]), end
            if arg in (sre_constants.AT_END, sre_constants.AT_END_STRING):
                end = self.new()
                return self.new(anchor="end", out=[end]), end
        if op is sre_constants.SUBPATTERN:
            _group, add_flags, del_flags, items = arg
            if add_flags or del_flags:
                raise ValueError("inline flags are not supported in a fault path")
            return self.sequence(items)
        if op is sre_constants.BRANCH:
            entry, exit_ = self.new(), self.new()
            for items in arg[1]:
                start, end = self.sequence(items)
                entry.out.append(start)
                end.out.append(exit_)
            return entry, exit_
        if op in _REPEATS:
            return self.repeat(*arg)
        raise ValueError(f"{str(op).lower()} is not supported in a fault path")

    def repeat(self, low: int, high: int, items: Any) -> tuple[_State, _State]:
        entry = exit_ = self.new()
        for _ in range(low):
            start, end = self.sequence(items)
            exit_.out.append(start)
            exit_ = end
        if high is sre_constants.MAXREPEAT:
            start, end = self.sequence(items)
            loop = self.new(out=[start])
            end.out.append(loop)
            done = self.new()
            loop.out.append(done)
            exit_.out.append(loop)
            return entry, done
        done = self.new()
        for _ in range(high - low):
            start, end = self.sequence(items)
            exit_.out.extend([start, done])
            exit_ = end
        exit_.out.append(done)
        return entry, done


def _char_class(items: Any) -> CharTest:
    negate = False
    tests: list[CharTest] = []
    for op, arg in items:
        if op is sre_constants.NEGATE:
            negate = True
        elif op is sre_constants.LITERAL:
            tests.append(_equals(arg))
        elif op is sre_constants.RANGE:
            tests.append(_between(*arg))
        elif op is sre_constants.CATEGORY and arg in _CATEGORIES:
            tests.append(_CATEGORIES[arg])
        else:
            raise ValueError(f"{str(op).lower()} is not supported in a fault path's character class")
    if negate:
        return lambda char: not any(test(char) for test in tests)
    return lambda char: any(test(char) for test in tests)


class PathPattern:
    r"""A regular expression searched in a path without backtracking.

    :param pattern: a regular expression using literals, ``.``, classes (``[^/]``, ``\d``, ``\w``,
        ``\s``), groups, ``|``, ``^``, ``$`` and quantifiers.
    :raises ValueError: for invalid syntax, or syntax that needs backtracking.
    """

    def __init__(self, pattern: str) -> None:
        try:
            parsed = sre_parse.parse(pattern)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        if parsed.state.flags & ~re.UNICODE:
            raise ValueError("inline flags are not supported in a fault path")
        builder = _Builder()
        self._start, self._accept = builder.sequence(list(parsed))
        self.pattern = pattern

    def search(self, text: str) -> bool:
        """Whether the pattern matches anywhere in ``text``.

        :param text: the raw request path.
        """
        current: set[_State] = set()
        for position in range(len(text) + 1):
            # A search may begin at any position: add the start state each time.
            current = self._closure(current | {self._start}, position, len(text))
            if self._accept in current:
                return True
            if position == len(text):
                break
            char = text[position]
            current = {state.out[0] for state in current if state.test is not None and state.test(char)}
        return False

    def _closure(self, states: set[_State], position: int, length: int) -> set[_State]:
        seen: set[_State] = set()
        stack = list(states)
        while stack:
            state = stack.pop()
            if state in seen:
                continue
            seen.add(state)
            if state.anchor == "start" and position != 0:
                continue
            if state.anchor == "end" and position != length:
                continue
            if state.test is None:
                stack.extend(state.out)
        return seen
