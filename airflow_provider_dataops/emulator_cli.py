"""The ``dataops-emulator`` command, importable without the ``emulator`` extra.

Without Starlette or uvicorn it prints how to install them, instead of an import traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the emulator (see ``dataops-emulator --help``).

    :param argv: the arguments (default: ``sys.argv[1:]``).
    :returns: the exit status; 1 when the ``emulator`` extra is missing.
    """
    try:
        import airflow_provider_dataops.emulator  # noqa: F401  (checks for the extra)
    except ImportError as error:
        print(f"dataops-emulator: {error}", file=sys.stderr)
        return 1
    from airflow_provider_dataops.emulator.__main__ import main as serve

    return serve(argv)


if __name__ == "__main__":
    sys.exit(main())
