"""The one error of the imaging layer: a file that cannot be accepted."""

from __future__ import annotations

from kyphos.errors import KyphosError


class ImageRefused(KyphosError):
    """A file that cannot be accepted; nothing was written anywhere.

    ``str()`` is the English message; ``message_zh`` says the same in Chinese;
    ``field`` is always ``"file"`` so forms can put the message beside the upload.
    """

    field = "file"

    def __init__(self, message: str, message_zh: str, *, filename: str = "") -> None:
        prefix = f"{filename}: " if filename else ""
        self.message = prefix + message
        self.message_zh = prefix + message_zh
        super().__init__(self.message)

    def text(self, lang: str = "en") -> str:
        """The message in ``lang`` (``en`` or ``zh``)."""
        return self.message_zh if lang == "zh" else self.message
