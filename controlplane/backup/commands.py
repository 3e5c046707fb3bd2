"""restic command builders: pure functions from settings to exact argv lists.

Nothing here runs anything. Each builder returns the complete argv, ready for
:func:`controlplane.execute.run` (locally) or
:meth:`controlplane.ssh.SSHPool.run` (on the managed host, quoted per word),
and in both cases with the repository password as the process's **stdin**
(``input_text=password + "\\n"``).

Password scheme and leak analysis
---------------------------------
restic reads the repository password from standard input when no password
option or variable is set and stdin is not a terminal. The argv therefore
carries no password option at all and starts with::

    env -u RESTIC_PASSWORD -u RESTIC_PASSWORD_FILE -u RESTIC_PASSWORD_COMMAND
        -u RESTIC_REPOSITORY -u RESTIC_REPOSITORY_FILE -u RESTIC_HOST restic ...

so that no variable left in a host's or the control plane's environment can
silently choose another password, repository or host name. The password is
written once to restic's stdin and the stream is closed.

* **argv** (``/proc/PID/cmdline``, ``ps``, audit logs): repository URL, flags,
  paths; never the password, on either host.
* **environment** (``/proc/PID/environ``): not set anywhere; the variables are
  removed, not filled. Nothing long-lived holds it.
* **files**: none. No temp file to remove, so none left after a crash or a
  killed run (a 0600 temp file would be; a fifo would need a second process).
* **transport**: inside the SSH channel (encrypted) to sshd, then the pipe or
  socket that is restic's stdin. On the control plane it stays in the Python
  process (paramiko); run output is masked with ``secrets=[password]``.
* **children**: ``--stdin-from-command`` runs the dump command with stdin
  from ``/dev/null`` (Go's default), so the dump never sees the password;
  a recorded end-to-end test proves it with ``cat`` as the dump.
* **what is left**: restic's own memory, readable by root on that host, who
  could read the data being backed up anyway.

Why not the alternatives: ``--password-file /dev/stdin`` fails with ENXIO when
stdin is a socket (as sshd may give it: checked with restic 0.18);
``--password-command`` starts its command with stdin from ``/dev/null``, so it
would need the password from somewhere else (a file or variable); a 0600 temp
file survives a crash; ``RESTIC_PASSWORD`` is visible in ``/proc/PID/environ``
to the same user for the whole run.

The SFTP connection is made by the ``ssh`` restic starts, through
``-o sftp.command=...``: batch mode (a prompt would hang a scheduled job),
the center's pinned host key only, and the backup key. restic splits that
value on spaces itself (no shell), so every word is checked to contain no
space or quote.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from controlplane.errors import BadInputError

from .policy import Center, Retention

ENV_SCRUB: tuple[str, ...] = (
    "env",
    "-u",
    "RESTIC_PASSWORD",
    "-u",
    "RESTIC_PASSWORD_FILE",
    "-u",
    "RESTIC_PASSWORD_COMMAND",
    "-u",
    "RESTIC_REPOSITORY",
    "-u",
    "RESTIC_REPOSITORY_FILE",
    "-u",
    "RESTIC_HOST",
    "-u",
    "RESTIC_FROM_PASSWORD",
    "-u",
    "RESTIC_FROM_PASSWORD_FILE",
    "-u",
    "RESTIC_FROM_PASSWORD_COMMAND",
    "-u",
    "RESTIC_FROM_REPOSITORY",
    "-u",
    "RESTIC_FROM_REPOSITORY_FILE",
)
# ``restic copy`` needs two passwords (source and destination) and reads only
# one from stdin. This POSIX sh program, run as ``sh -c PROGRAM egov-copy
# RESTIC_ARGV...``, reads the FIRST stdin line (the source password) with the
# ``read`` builtin (byte by byte, so the second line stays in stdin), and
# hands it to restic through a pipe on fd 3 (``--from-password-file
# /dev/fd/3``), written by the ``printf`` builtin: no exec, so it is never in
# an argv; never exported, so never in an environment; a pipe, so never in a
# file. restic then reads the destination password from the rest of stdin.
PASSWORD_PIPE = 'IFS= read -r p || exit 2; exec 4<&0; printf "%s\\n" "$p" | { unset p; exec "$@" 3<&0 0<&4 4<&-; }'  # noqa: S105 - a program, no secret
FROM_PASSWORD_FD = "/dev/fd/3"  # noqa: S105 - a path, no secret
# Words restic's own space-splitting of sftp.command keeps intact.
_SFTP_WORD = re.compile(r"^[A-Za-z0-9_@%+=:,./\[\]-]+$")
_SNAPSHOT = re.compile(r"^(latest|[0-9a-f]{8,64})$")
_LOCK_WAIT = re.compile(r"^[1-9][0-9]{0,3}[smh]$")


@dataclass(frozen=True)
class Repo:
    """How to reach one repository.

    ``location`` is restic's ``--repo`` value (``sftp:...`` or a local
    folder); ``sftp_command`` the ssh argv restic should use (empty: restic's
    default or a local repository); ``restic`` the binary on the host that
    runs the command; ``retry_lock`` the ``--retry-lock`` wait (empty: none).
    """

    location: str
    restic: str = "restic"
    sftp_command: tuple[str, ...] = ()
    retry_lock: str = ""
    cache_dir: str = ""
    sftp_args: tuple[str, ...] = ()


def stall_options(stall_timeout: int) -> tuple[str, ...]:
    """The ssh options that make a silent center fail the run within about ``stall_timeout`` seconds.

    A center that goes away mid-backup (down, or cut off so that packets
    vanish) must fail the run, and free its locks, within seconds, not after
    the kernel's TCP timeout of many minutes: ssh ends after
    ``ServerAliveCountMax + 1`` unanswered intervals of ``ServerAliveInterval``
    (OpenSSH ``clientloop.c``: ``server_alive_check``), here ``4 x
    ceil(stall / 4)``, and restic's sftp backend then fails every pending
    request at once (its ``clientError`` turns the ended ssh into a
    permanent error). Connecting gets half of it (``ConnectTimeout``).
    """
    interval = max(1, -(-stall_timeout // 4))
    return (
        "-o",
        f"ConnectTimeout={max(1, -(-stall_timeout // 2))}",
        "-o",
        f"ServerAliveInterval={interval}",
        "-o",
        "ServerAliveCountMax=3",
    )


def sftp_command(center: Center, user: str, address: str) -> tuple[str, ...]:
    """Return the ssh argv restic runs to reach a backup center.

    ``ssh -i KEY -p PORT -o BatchMode=yes -o StrictHostKeyChecking=yes -o
    UserKnownHostsFile=FILE -o IdentitiesOnly=yes`` + :func:`stall_options`
    ``USER@ADDRESS -s sftp``: the center's key is pinned, never learnt.
    Raises BadInputError for a word restic's splitter would break (space, quote).
    """
    words = (
        "ssh",
        "-i",
        center.identity_file,
        "-p",
        str(center.port),
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        f"UserKnownHostsFile={center.known_hosts}",
        "-o",
        "IdentitiesOnly=yes",
        *stall_options(center.stall_timeout),
        f"{user}@{address}",
        "-s",
        "sftp",
    )
    for word in words:
        if not _SFTP_WORD.match(word):
            raise BadInputError(f"sftp command word {word!r} contains characters restic would split on")
    return words


def sftp_args(center: Center) -> tuple[str, ...]:
    """Return the extra ssh words (``-o sftp.args``) for reaching a center by its repository URL.

    For ``restic copy``, whose two repositories are on two centers: one
    ``sftp.command`` (which names the host) cannot serve both, so restic builds
    ``ssh HOST -p PORT -l USER ARGS -s sftp`` from each URL and these ARGS
    (the key, batch mode, the pinned known_hosts, the timeouts of
    :func:`sftp_command`). Raises BadInputError as :func:`sftp_command`.
    """
    words = sftp_command(center, "user", "address")
    # Drop "ssh", "-p PORT" and the trailing "USER@ADDRESS -s sftp".
    return words[1:3] + words[5:-3]


def _check_words(words: Iterable[str], what: str) -> list[str]:
    result = list(words)
    for word in result:
        if not isinstance(word, str) or not word or "\x00" in word or "\n" in word:
            raise BadInputError(f"{what} {word!r} is empty or contains a NUL or newline")
    return result


def _snapshot(snapshot: str) -> str:
    if not _SNAPSHOT.match(snapshot):
        raise BadInputError(f"snapshot {snapshot!r} is not 'latest' or a hexadecimal snapshot id")
    return snapshot


def _global(repo: Repo, *, lock: bool = True) -> list[str]:
    """The scrubbed environment, the binary and the options every command shares."""
    argv = [*ENV_SCRUB, repo.restic, "--repo", repo.location]
    if repo.sftp_command:
        argv += ["-o", "sftp.command=" + " ".join(repo.sftp_command)]
    if repo.sftp_args:
        argv += ["-o", "sftp.args=" + " ".join(repo.sftp_args)]
    if repo.cache_dir:
        argv += ["--cache-dir", repo.cache_dir]
    if lock and repo.retry_lock:
        if not _LOCK_WAIT.match(repo.retry_lock):
            raise BadInputError(f"retry-lock {repo.retry_lock!r} is not a duration like 30s, 5m or 1h")
        argv += ["--retry-lock", repo.retry_lock]
    return argv


def _tags(tags: Sequence[str]) -> list[str]:
    # One --tag per tag: restic would split a comma inside one value.
    result: list[str] = []
    for tag in _check_words(tags, "tag"):
        if "," in tag:
            raise BadInputError(f"tag {tag!r} contains a comma")
        result += ["--tag", tag]
    return result


def init(repo: Repo) -> list[str]:
    """``restic init --json``: create the repository (reads the new password once from stdin)."""
    return [*_global(repo, lock=False), "init", "--json"]


def backup_paths(
    repo: Repo,
    paths: Sequence[str],
    *,
    host: str,
    excludes: Sequence[str] = (),
    tags: Sequence[str] = (),
    one_file_system: bool = False,
) -> list[str]:
    """``restic backup --json``: back up folders and files.

    The snapshot host is the inventory name, so snapshots are found by it
    whatever the machine calls itself. Paths come after ``--`` so none can be
    read as an option. Raises BadInputError for no paths or a malformed word.
    """
    if not paths:
        raise BadInputError("a backup needs at least one path")
    argv = [*_global(repo), "backup", "--json", "--host", host]
    argv += _tags(tags)
    for pattern in _check_words(excludes, "exclude pattern"):
        argv += ["--exclude", pattern]
    if one_file_system:
        argv.append("--one-file-system")
    return [*argv, "--", *_check_words(paths, "path")]


def backup_dump(
    repo: Repo,
    command: Sequence[str],
    *,
    filename: str,
    host: str,
    tags: Sequence[str] = (),
) -> list[str]:
    """``restic backup --stdin-from-command``: store a dump command's output.

    restic runs the command itself (no shell) and fails the backup, without
    a snapshot, when it exits non-zero. Raises BadInputError for an empty
    command or malformed word.
    """
    if not command:
        raise BadInputError("a dump backup needs a command")
    argv = [*_global(repo), "backup", "--json", "--host", host]
    argv += _tags(tags)
    argv += ["--stdin-filename", _check_words([filename], "file name")[0], "--stdin-from-command"]
    return [*argv, "--", *_check_words(command, "dump command word")]


def snapshots(repo: Repo, *, host: str | None = None, tags: Sequence[str] = (), latest: int | None = None) -> list[str]:
    """``restic snapshots --json``, optionally for one host, tags, or the latest N per group."""
    argv = [*_global(repo), "snapshots", "--json"]
    if host:
        argv += ["--host", host]
    argv += _tags(tags)
    if latest is not None:
        argv += ["--latest", str(int(latest))]
    return argv


def forget(repo: Repo, retention: Retention, *, host: str | None = None, prune: bool = True) -> list[str]:
    """``restic forget --json [--prune]`` with the retention rules.

    Raises BadInputError when the retention has no rule (restic would keep
    everything and say so; we refuse earlier, with the reason).
    """
    rules = retention.rules()
    if not rules:
        raise BadInputError("retention has no keep rule")
    argv = [*_global(repo), "forget", "--json"]
    if host:
        argv += ["--host", host]
    for flag, count in rules:
        argv += [flag, str(count)]
    if prune:
        argv.append("--prune")
    return argv


def forget_snapshots(repo: Repo, snapshot_ids: Sequence[str]) -> list[str]:
    """``restic forget --json ID...``: drop given snapshots (no prune).

    For the snapshot a dump backup left with exit code 3 (the dump wrote
    nothing): it must not stay the "latest" a restore or drill would pick.
    Raises BadInputError for no ids or an id that is not hexadecimal.
    """
    if not snapshot_ids:
        raise BadInputError("forget needs at least one snapshot id")
    ids = [_snapshot(snapshot) for snapshot in snapshot_ids]
    if "latest" in ids:
        raise BadInputError("forget takes snapshot ids, not 'latest'")
    return [*_global(repo), "forget", "--json", "--", *ids]


def check(repo: Repo, *, read_data_subset: str | None = None) -> list[str]:
    """``restic check --json [--read-data-subset SUBSET]``: verify structure and a share of the data."""
    argv = [*_global(repo), "check", "--json"]
    if read_data_subset:
        argv += ["--read-data-subset", _check_words([read_data_subset], "subset")[0]]
    return argv


def restore(
    repo: Repo,
    *,
    target: str,
    snapshot: str = "latest",
    host: str | None = None,
    includes: Sequence[str] = (),
    verify: bool = True,
) -> list[str]:
    """``restic restore SNAPSHOT --target DIR --json``: restore a snapshot.

    ``host`` says whose snapshot ``latest`` means; ``verify`` has restic
    re-read the restored files. Whether the target is an allowed restore
    root is the caller's decision. Raises BadInputError for a malformed
    snapshot id or word.
    """
    argv = [*_global(repo), "restore", "--json", "--target", _check_words([target], "target")[0]]
    if host:
        argv += ["--host", host]
    for pattern in _check_words(includes, "include pattern"):
        argv += ["--include", pattern]
    if verify:
        argv.append("--verify")
    return [*argv, "--", _snapshot(snapshot)]


def ls(repo: Repo, *, snapshot: str = "latest", host: str | None = None) -> list[str]:
    """``restic ls --json SNAPSHOT``: list a snapshot's files (one JSON object per line)."""
    argv = [*_global(repo), "ls", "--json"]
    if host:
        argv += ["--host", host]
    return [*argv, "--", _snapshot(snapshot)]


def unlock(repo: Repo) -> list[str]:
    """``restic unlock``: remove *stale* locks only.

    Deliberately never ``--remove-all``: that also removes the locks of a run
    still in progress elsewhere, and the repository can be damaged by a
    prune that runs beside a backup. The caller still only unlocks when no
    run of ours holds the repository.
    """
    return [*_global(repo, lock=False), "unlock"]


def stats(repo: Repo, *, snapshot: str | None = None, mode: str = "restore-size") -> list[str]:
    """``restic stats --json --mode MODE [SNAPSHOT]``."""
    if mode not in ("restore-size", "files-by-contents", "blobs-per-file", "raw-data"):
        raise BadInputError(f"unknown stats mode {mode!r}")
    argv = [*_global(repo), "stats", "--json", "--mode", mode]
    if snapshot:
        argv += ["--", _snapshot(snapshot)]
    return argv


def repo_for(
    center: Center, address: str, site: str, location: str, *, restic: str = "restic", retry_lock: str = ""
) -> Repo:
    """Return the Repo of a resolved repository location on a backup center.

    The site picks the SFTP account; ``restic`` is the binary on the host
    that runs it. The Repo carries the pinned-key ``sftp.command``. Raises
    BadInputError as :func:`sftp_command`.
    """
    return Repo(
        location=location,
        restic=restic,
        sftp_command=sftp_command(center, center.sftp_user(site), address),
        retry_lock=retry_lock,
    )


def _copy_pair(destination: Repo, source: Repo) -> list[str]:
    """The shared start of copy and init-from: the password pipe, the destination and the source repository."""
    if destination.sftp_command or source.sftp_command:
        raise BadInputError("a copy between two centers needs sftp.args repositories, not sftp.command")
    if destination.sftp_args != source.sftp_args:
        raise BadInputError("both centers must use the same backup key and known_hosts file on the host")
    if destination.location == source.location:
        raise BadInputError("a copy needs two different repositories")
    return [
        "sh",
        "-c",
        PASSWORD_PIPE,
        "egov-copy",
        *_global(destination),
        "--from-repo",
        source.location,
        "--from-password-file",
        FROM_PASSWORD_FD,
    ]


def init_copy(destination: Repo, source: Repo) -> list[str]:
    """``restic init --from-repo SRC --copy-chunker-params``: a destination that deduplicates like the source.

    Run with stdin ``SOURCE_PASSWORD\\nDESTINATION_PASSWORD\\n`` (see
    :data:`PASSWORD_PIPE`). Raises BadInputError as :func:`copy`.
    """
    return [*_copy_pair(destination, source), "init", "--copy-chunker-params"]


def copy(destination: Repo, source: Repo, *, host: str | None = None, tags: Sequence[str] = ()) -> list[str]:
    """``restic copy --from-repo SRC``: copy the snapshots the destination lacks.

    Both Repos must have the same :func:`sftp_args`. The argv is wrapped in
    :data:`PASSWORD_PIPE` so it takes stdin
    ``SOURCE_PASSWORD\\nDESTINATION_PASSWORD\\n``. restic copies only

    snapshots not yet in the destination (it compares the ``original`` id),
    so running it again is cheap. Raises BadInputError for two Repos that
    are the same, use ``sftp.command`` or differ in their ssh words.
    """
    argv = [*_copy_pair(destination, source), "copy"]
    if host:
        argv += ["--host", host]
    return argv + _tags(tags)
