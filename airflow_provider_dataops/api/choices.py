"""Choices a user names by value (policies, modes), checked with one error message."""

from __future__ import annotations

import enum
import re
from typing import Any, TypeVar

from airflow_provider_dataops.errors import DataOpsConfigError

_ChoiceT = TypeVar("_ChoiceT", bound="Choice")


class Choice(str, enum.Enum):
    """A fixed set of values a parameter takes; :meth:`parse` checks what a user passed.

    The parameter is named after the class unless told: ``ManualPolicy`` is ``manual_policy``.
    """

    @classmethod
    def parse(cls: type[_ChoiceT], value: Any, parameter: str | None = None) -> _ChoiceT:
        """Validate a user-supplied value, naming the parameter and the choices on error."""
        try:
            return cls(value)
        except ValueError:
            name = parameter or re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()
            choices = ", ".join(repr(member.value) for member in cls)
            raise DataOpsConfigError(f"{name} must be one of {choices}, got {value!r}") from None
