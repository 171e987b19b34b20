"""The ``{name:id}`` path convertor: a numeric id of any length, 404 (never 500) when out of range."""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor

#: GitLab's ids are bigints: longer digit strings name nothing.
MAX_ID_DIGITS = 19
#: What an out-of-range id converts to: an id no record has, so the handler answers 404.
NO_SUCH_ID = -1


class IdConvertor(Convertor[int]):
    """Digits to an ``int``; an id past bigint range becomes :data:`NO_SUCH_ID` instead of raising."""

    regex = "[0-9]+"

    def convert(self, value: str) -> int:
        """:param value: the path segment's digits."""
        return int(value) if len(value) <= MAX_ID_DIGITS else NO_SUCH_ID

    def to_string(self, value: int) -> str:
        """:param value: the id."""
        return str(int(value))


register_url_convertor("id", IdConvertor())
