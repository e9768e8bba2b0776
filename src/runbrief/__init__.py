"""runbrief: distilled, cited runtime telemetry for coding agents and the humans auditing them."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__", "instrument"]


def instrument(*args, **kwargs):  # noqa: ANN002, ANN003 - forwards to runbrief.instrument
    """Configure the OpenTelemetry SDK to export to the local runbrief server.

    See :func:`runbrief.instrument.instrument`; imported lazily so `import runbrief`
    stays cheap for CLI use.
    """
    from runbrief.instrument import instrument as _instrument

    return _instrument(*args, **kwargs)
