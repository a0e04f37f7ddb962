"""The exceptions that mean "the user's input is wrong", which the CLI turns into one line and
exit code 2 instead of a traceback. Each is defined next to the code that raises it."""

from r1data.io import InputError
from r1data.models import ModelError
from r1data.record import RecordError
from r1data.backends import BackendError
from r1data.templates import TemplateError
from r1data.pipelines.publish import PublishError
from r1data.verifiers.sandbox import SandboxUnavailable


class ConfigError(ValueError):
    """A config or recipe with an unknown key or a bad value."""


USER_ERRORS: tuple[type[BaseException], ...] = (
    InputError, ModelError, RecordError, ConfigError, FileNotFoundError,
    PublishError, BackendError, TemplateError, SandboxUnavailable,
)
