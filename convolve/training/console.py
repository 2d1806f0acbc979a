"""Writing training messages to standard output, or to the `"convolve"` logger."""

from __future__ import annotations

import logging
import sys

from convolve import config

__all__ = ["print_msg"]


def print_msg(message: str, line_break: bool = True) -> None:
    """Writes `message` to `sys.stdout` and flushes it.

    With `convolve.config.disable_interactive_logging()` in effect, the message goes to the
    `"convolve"` logger at INFO level instead, as Keras sends it to `absl.logging`.

    `sys.stdout` is looked up at every call so that redirection (and pytest's capture)
    applies. On a stream whose encoding cannot represent the bar character `━`, the bar
    falls back to `=` and other unencodable characters are dropped, as Keras does.

    Args:
        message: The text to write.
        line_break: Whether to end the message with a newline.
    """
    message = str(message)
    if not config.is_interactive_logging_enabled():
        logging.getLogger("convolve").info(message)
        return
    if line_break:
        message += "\n"
    stream = sys.stdout
    try:
        stream.write(message)
    except UnicodeEncodeError:
        encoding = getattr(stream, "encoding", None) or "utf-8"
        message = message.replace("━", "=")
        stream.write(message.encode(encoding, errors="ignore").decode(encoding))
    stream.flush()
