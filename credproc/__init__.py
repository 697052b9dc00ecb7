"""credproc: AWS credential_process helper that chains AssumeRole across accounts.

The Python API (credproc.api, loaded on first use: ``import credproc`` stays
as cheap as the console script needs)::

    credproc.accounts(*selectors, labels=())      # the configured accounts picked
    credproc.credentials(target, **get_options)   # credentials, exactly as `credproc get`
    credproc.boto3_session(target, region=None, **get_options)     # refreshing through credproc
    credproc.botocore_session(target, region=None, **get_options)
    credproc.Batch                                # the engine: many targets, many threads

Errors raise credproc.errors.CredprocError and its subclasses.
"""

__version__ = "0.1.0"

TYPE_CHECKING = False  # not typing's: the console script's fast path imports this package
if TYPE_CHECKING:
    from .api import Account as Account
    from .api import MissingDependencyError as MissingDependencyError
    from .api import accounts as accounts
    from .api import boto3_session as boto3_session
    from .api import botocore_session as botocore_session
    from .api import credentials as credentials
    from .batch import Batch as Batch
    from .batch import Result as Result
    from .errors import CredprocError as CredprocError

_API = ("Account", "MissingDependencyError", "accounts", "boto3_session", "botocore_session", "credentials")
_ENGINE = ("Batch", "Result")

__all__ = [*_API, *_ENGINE, "CredprocError", "__version__"]


def __getattr__(name: str) -> object:
    """The API's names, imported when first asked for."""
    if name in _API:
        from . import api

        return getattr(api, name)
    if name in _ENGINE:
        from . import batch

        return getattr(batch, name)
    if name == "CredprocError":
        from .errors import CredprocError

        return CredprocError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
