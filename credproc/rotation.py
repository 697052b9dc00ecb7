"""``credproc source rotate``: replace a stored long-term access key by a new
one, as aws-vault's ``rotate`` does, without ever losing a working key.

The steps, each signed with the stored key (or, with ``[source] mfa_serial``,
with one MFA session made from it, since IAM policies often demand MFA):

1. GetCallerIdentity with the stored key: it works, and whose it is (the IAM user);
2. IAM ListAccessKeys (best effort: not every user may), then CreateAccessKey for that user;
3. store the new pair under the same name (the secret is shown once: keep it at once);
4. GetCallerIdentity with the new key until it answers as the same user
   (IAM is eventually consistent: a new key can take seconds to work),
   retried within :data:`VERIFY_WITHIN` seconds;
5. IAM DeleteAccessKey of the old key.

What a failure at each step leaves (the stored key always works, and every
key IAM holds besides it is named in the message):

- 1, 2: nothing changed. CreateAccessKey is retried only when throttled: a
  failed or unreadable answer may hide a key IAM made all the same, whose
  secret no one has; listing the keys again finds it, and it is deleted;
- 3 (the store refused): the new key is deleted again;
- 4 (the new key never worked): the old key is stored again, the new one
  deleted (should the store refuse the old key, the new one stays stored and
  the old one is named: its secret is gone);
- 5: the new key is stored and works; the old key is named, with the
  ``aws iam delete-access-key`` command that removes it.
  If deleting a key fails on the way (3, 4), that key is named the same way.

A user with two keys already (IAM's limit) gets LimitExceeded from step 2:
the message names the other key and the command that deletes it.

Pure orchestration: IAM and STS (:class:`Aws`), the store (:class:`Store`),
the MFA code and the clock are passed in.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import NamedTuple, NoReturn, Protocol

from .errors import AuthError, CredentialsRefusedError, CredprocError, UnavailableError
from .log import Log
from .stored_key import StoredKey, mask

VERIFY_WITHIN = 60.0  # seconds the new key is given to start working (IAM's eventual consistency)
FIRST_DELAY = 1.0
LONGEST_DELAY = 8.0


class Pair(NamedTuple):
    """Credentials to sign with (a session token for an MFA session)."""

    access_key_id: str
    secret_access_key: str
    session_token: str | None = None


class NewKey(NamedTuple):
    access_key_id: str
    secret_access_key: str
    created: str  # ISO-8601 UTC, as IAM's CreateDate


class KeyLimitError(AuthError):
    """IAM refused CreateAccessKey: the user has as many keys as IAM allows (LimitExceeded)."""


class Aws(Protocol):
    """The AWS calls of a rotation; each raises a CredprocError when it fails."""

    def caller_arn(self, keys: Pair) -> str:
        """GetCallerIdentity signed with ``keys``: the caller's ARN."""

    def session(self, keys: Pair, serial: str, code: str) -> Pair:
        """GetSessionToken with an MFA code, signed with ``keys``."""

    def create_key(self, signer: Pair, user: str | None) -> NewKey:
        """IAM CreateAccessKey for ``user`` (None: the signer itself); KeyLimitError at IAM's limit."""

    def delete_key(self, signer: Pair, user: str | None, access_key_id: str) -> None:
        """IAM DeleteAccessKey."""

    def key_ids(self, signer: Pair, user: str | None) -> list[str]:
        """IAM ListAccessKeys: the user's access key ids."""


class Store(Protocol):
    """The stored keys (credproc/source_keys.py)."""

    def load(self, name: str) -> StoredKey: ...

    def save(self, key: StoredKey) -> StoredKey: ...


class Timing(NamedTuple):
    clock: Callable[[], float]  # monotonic seconds
    sleep: Callable[[float], None]
    within: float = VERIFY_WITHIN


class Mfa(NamedTuple):
    serial: str
    code: Callable[[], str]  # asks for one code (mfa_process or the terminal)


class Rotated(NamedTuple):
    old_key_id: str
    new: StoredKey
    arn: str


def rotate(name: str, store: Store, aws: Aws, timing: Timing, log: Log, mfa: Mfa | None = None) -> Rotated:
    """Replace the stored key ``name`` by a new key of the same IAM user (see the module's docstring)."""
    old = store.load(name)
    old_pair = Pair(old.access_key_id, old.secret_access_key)
    arn = aws.caller_arn(old_pair)
    user = user_name(arn, name)
    signer = old_pair
    if mfa is not None:
        log.step(f"GetSessionToken with MFA device {mfa.serial}")
        signer = aws.session(old_pair, mfa.serial, mfa.code())
    before = _key_ids(aws, signer, user)
    log.step(f"CreateAccessKey for {arn}")
    new = _create(aws, signer, user, old, before)
    new_pair = Pair(new.access_key_id, new.secret_access_key)
    try:
        saved = store.save(StoredKey(name, new.access_key_id, new.secret_access_key, arn, new.created, ""))
    except (CredprocError, OSError) as error:
        cause = error if isinstance(error, CredprocError) else CredprocError(f"{error}")
        _discard(aws, signer, user, new.access_key_id, f"the new key could not be stored: {cause.message}", cause)
    log.step(f"stored the new key {mask(new.access_key_id)} as {name!r}; checking it works")
    try:
        verify(aws, new_pair, arn, timing, log)
    except CredprocError as error:
        _restore(store, old, new.access_key_id, user, error)
        _discard(aws, signer, user, new.access_key_id, f"the new key did not work: {error.message}", error)
    log.step(f"DeleteAccessKey {mask(old.access_key_id)}")
    try:
        aws.delete_key(signer, user, old.access_key_id)
    except CredprocError as error:
        raise _restated(
            error,
            f"the new key {mask(new.access_key_id)} is stored as {name!r} and works, but the old key "
            f"{old.access_key_id} could not be deleted: {error.message}",
            delete_command(user, old.access_key_id),
        ) from None
    return Rotated(old.access_key_id, saved, arn)


def user_name(arn: str, name: str) -> str | None:
    """The IAM user of ``arn`` (None for the account's root user); AuthError for anything else."""
    parts = arn.split(":", 5)
    if len(parts) == 6 and parts[2] == "iam" and parts[5] == "root":
        return None
    if len(parts) == 6 and parts[2] == "iam" and parts[5].startswith("user/"):
        return parts[5].rsplit("/", 1)[1]  # user/PATH/NAME: IAM calls take the name alone
    raise AuthError(
        f"the stored keys {name!r} are those of {arn}, not of an IAM user: only an IAM user's access keys rotate",
        f"store an IAM user's access key (credproc source add {name})",
    )


def delete_command(user: str | None, access_key_id: str) -> str:
    """The AWS CLI command that deletes ``access_key_id``."""
    who = f" --user-name {shlex.quote(user)}" if user else ""
    return f"aws iam delete-access-key{who} --access-key-id {access_key_id}"


def verify(aws: Aws, keys: Pair, arn: str, timing: Timing, log: Log) -> None:
    """GetCallerIdentity with ``keys`` answers as ``arn``, retried while the key is
    not known yet (or STS cannot be reached) for at most ``timing.within`` seconds."""
    deadline = timing.clock() + timing.within
    delay = FIRST_DELAY
    while True:
        try:
            seen = aws.caller_arn(keys)
        except (CredentialsRefusedError, UnavailableError) as error:
            if timing.clock() + delay > deadline:
                raise _restated(error, f"{error.message} (still, after {timing.within:.0f} s)", error.hint) from None
            log.step(f"the new key does not work yet ({error.message}); again in {delay:.0f} s")
            timing.sleep(delay)
            delay = min(delay * 2, LONGEST_DELAY)
            continue
        if seen != arn:
            raise AuthError(f"GetCallerIdentity with the new key answered as {seen}, not {arn}", "retry the rotation")
        return


def _key_ids(aws: Aws, signer: Pair, user: str | None) -> list[str] | None:
    """The user's keys before CreateAccessKey (None when IAM will not list them: not every user may)."""
    try:
        return aws.key_ids(signer, user)
    except CredprocError:
        return None


def _create(aws: Aws, signer: Pair, user: str | None, old: StoredKey, before: list[str] | None) -> NewKey:
    try:
        return aws.create_key(signer, user)
    except KeyLimitError as error:
        raise _limit(user, old, error, before) from None
    except CredprocError as error:
        unseen = _unseen_keys(aws, signer, user, before)
        if unseen is None:
            raise _restated(
                error, f"no new access key was created ({error.message}); the stored key is unchanged", error.hint
            ) from None
        why = f"CreateAccessKey failed ({error.message}), yet IAM holds the key {unseen} it made"
        _discard(aws, signer, user, unseen, why, error)


def _unseen_keys(aws: Aws, signer: Pair, user: str | None, before: list[str] | None) -> str | None:
    """The key a failed CreateAccessKey made all the same (its answer lost or
    unreadable: no one has its secret), or None: none, or no way to tell."""
    after = _key_ids(aws, signer, user) if before is not None else None
    made = [key for key in after or [] if key not in (before or [])]
    return made[0] if len(made) == 1 else None


def _limit(user: str | None, old: StoredKey, error: CredprocError, before: list[str] | None) -> CredprocError:
    """Two keys already: name the one that is not stored, and how to delete it."""
    others = [key for key in before or [] if key != old.access_key_id]
    who = f"the IAM user {user}" if user else "the root user"
    if len(others) == 1:
        return KeyLimitError(
            f"{who} already has two access keys, IAM's limit: the stored {mask(old.access_key_id)} "
            f"and {others[0]}; the stored key is unchanged",
            f"if {others[0]} is not in use elsewhere, delete it ({delete_command(user, others[0])}), then retry",
        )
    return KeyLimitError(
        f"{who} already has as many access keys as IAM allows ({error.message}); the stored key is unchanged",
        f"delete the key not in use ({delete_command(user, 'KEY_ID')}), then retry",
    )


def _restore(store: Store, old: StoredKey, new_key_id: str, user: str | None, error: CredprocError) -> None:
    """Put the old key back under its name (the new one did not work). If the
    store refuses, the new key stays stored (the old secret is nowhere else now)."""
    try:
        store.save(old)
    except (CredprocError, OSError) as failed:
        why = failed.message if isinstance(failed, CredprocError) else str(failed)
        raise _restated(
            error,
            f"the stored key is now the new key {new_key_id}, which did not work ({error.message}); the old key "
            f"{old.access_key_id} could not be stored again ({why}) and no copy of its secret is left",
            f"check the new key later (credproc doctor), then {delete_command(user, old.access_key_id)}",
        ) from None


def _discard(aws: Aws, signer: Pair, user: str | None, key_id: str, why: str, cause: CredprocError) -> NoReturn:
    """Delete the new key ``key_id`` again, then raise ``why``; if it cannot be deleted, name it."""
    try:
        aws.delete_key(signer, user, key_id)
    except CredprocError as error:
        raise _restated(
            cause,
            f"{why}; the stored key is unchanged, but the new key {key_id} could not be deleted again: {error.message}",
            delete_command(user, key_id),
        ) from None
    raise _restated(cause, f"{why}; the new key was deleted again and the stored key is unchanged", cause.hint)


def _restated(cause: CredprocError, message: str, hint: str | None) -> CredprocError:
    """``message`` with ``cause``'s exit code (4 refused, 5 unreachable, ...)."""
    error = CredprocError(message, hint)
    error.exit_code = cause.exit_code
    return error
