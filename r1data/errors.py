"""The exceptions the CLI turns into one line instead of a traceback, each defined next to the
code that raises it.

USER_ERRORS (exit code 2): the user's input is wrong, or the asked-for feature needs an optional
dependency that is not installed. FAILURES (exit code 3): the input was fine but the run could not
do all its work (a server that does not answer, samples that failed after the backend's retries);
rerunning the same command resumes and retries.
"""

from r1data.io import InputError
from r1data.models import ModelError
from r1data.record import RecordError
from r1data.backends import BackendError, BackendUnavailable
from r1data.failures import GenerationFailed
from r1data.manifest import OutputOwned
from r1data.optional import MissingDependency
from r1data.templates import TemplateError
from r1data.pipelines.publish import PublishError
from r1data.verifiers.sandbox import SandboxUnavailable


class ConfigError(ValueError):
    """A config or recipe with an unknown key or a bad value."""


USER_ERRORS: tuple[type[BaseException], ...] = (
    InputError, ModelError, RecordError, ConfigError, FileNotFoundError,
    PublishError, BackendError, TemplateError, SandboxUnavailable, MissingDependency,
    OutputOwned,
)
FAILURES: tuple[type[BaseException], ...] = (GenerationFailed, BackendUnavailable)
