"""The error hierarchy.

Every error a user can cause says what went wrong, where (file and line when there is one) and,
when it helps, what to do. Drivers catch ``PungiLikeError`` and print ``str(exc)`` without a
traceback; anything else is a bug and gets one.
"""


class PungiLikeError(Exception):
    """Base of every error that is reported to the user without a traceback."""


class ConfigError(PungiLikeError):
    """A problem in a config file or variants file.

    ``errors`` holds every message found (validation reports all of them, not just the first).
    """

    def __init__(self, errors):
        if isinstance(errors, str):
            errors = [errors]
        self.errors = list(errors)
        super().__init__("\n".join(self.errors))


class PhaseError(PungiLikeError):
    """A phase unit failed in a way the user must act on."""


class ToolError(PungiLikeError):
    """An external tool exited non-zero; the message names the command and its log."""

    def __init__(self, message, cmd=None, returncode=None, log_path=None):
        self.cmd = cmd
        self.returncode = returncode
        self.log_path = log_path
        super().__init__(message)


class HubError(PungiLikeError):
    """A build service call failed."""
