"""Logging: structlog configured once per entry point; the stdlib and uvicorn go through it."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from api.settings import LogFormat


def configure_logging(log_format: LogFormat = LogFormat.AUTO, level: str = "INFO") -> None:
    """JSON lines when not on a terminal (or when asked), coloured console otherwise."""
    use_json = log_format is LogFormat.JSON or (
        log_format is LogFormat.AUTO and not sys.stderr.isatty()
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            # Below the level, drop the event before any other work (a request logs one).
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Loggers follow a later reconfiguration (tests capture logs by reconfiguring).
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info if use_json else _identity,
            renderer,
        ],
    )
    handler = logging.StreamHandler(_CurrentStderr())
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's access log is replaced by one canonical line per request.
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").handlers[:] = []
    logging.getLogger("uvicorn.access").propagate = False


class _CurrentStderr:
    """Writes to whatever sys.stderr is at the time (a test runner swaps and closes it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def _identity(_: Any, __: str, event_dict: Any) -> Any:
    return event_dict


def uvicorn_log_config() -> dict[str, Any]:
    """A uvicorn log config that leaves the handlers set by configure_logging in place."""
    return {"version": 1, "disable_existing_loggers": False}
