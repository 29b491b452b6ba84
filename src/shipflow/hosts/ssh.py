"""A server over SSH as a :class:`~shipflow.hosts.base.Host`: one fabric ``Connection`` per host, reused for a
whole deploy.

Commands run on a paramiko exec channel of that connection, so bytes (env files, the lock holder, a
``docker load`` stream) travel through the command's stdin and never through argv. Files are written
through SFTP to a temporary file whose mode is set before the first byte, then renamed over the target.

Host keys are verified against ``known_hosts``: an unknown key is refused with its SHA256 fingerprint
unless the caller trusts new hosts (then it is appended, once); a changed key is always refused.
"""

from __future__ import annotations

import base64
import contextlib
import getpass
import hashlib
import posixpath
import shlex
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipflow.hosts.base import CommandResult, HostError

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable, Iterable, Sequence

CHUNK = 64 * 1024
POLL_SECONDS = 0.002
STOPPABLE_POLL_SECONDS = 0.02  # a stream that runs until told (docker logs --follow) wakes up less often
DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"


class SshError(HostError):
    """The SSH connection itself failed (unreachable, authentication, host key), not a command on it."""

    scope = "ssh"


@dataclass(frozen=True)
class SshTarget:
    """How to reach one server. ``private_key`` is key text (from a CI secret); it is never shown."""

    host: str
    port: int = 22
    user: str | None = None
    identity_file: str | None = None
    private_key: str | None = field(default=None, repr=False)
    private_key_from: str = "the environment"  # where the key text came from, e.g. PROD_SSH_KEY
    known_hosts: str | None = None
    trust_new_host: bool = False
    connect_timeout: float = 10.0

    @property
    def login(self) -> str:
        return self.user or getpass.getuser()

    @property
    def display(self) -> str:
        """``user@host:port``, how the host is named in every message."""
        return f"{self.login}@{self.host}:{self.port}"

    @property
    def known_hosts_path(self) -> Path:
        return Path(self.known_hosts or DEFAULT_KNOWN_HOSTS).expanduser()

    @property
    def known_hosts_name(self) -> str:
        """The name ``known_hosts`` lists this server under (``[host]:port`` off port 22)."""
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"


def fingerprint(key: Any) -> str:
    """``SHA256:...`` as ``ssh-keygen -l`` prints it, for a paramiko key."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def known_hosts_line(name: str, key: Any) -> str:
    return f"{name} {key.get_name()} {key.get_base64()}\n"


def _host_key_policy(target: SshTarget) -> Any:
    import paramiko

    class Policy(paramiko.MissingHostKeyPolicy):  # type: ignore[misc]
        """Refuse an unknown key (naming its fingerprint), or append it once when trusted."""

        def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
            path = target.known_hosts_path
            if not target.trust_new_host:
                raise SshError(
                    f"ssh {target.display}: unknown host key {key.get_name()} {fingerprint(key)} "
                    f"(not in {path}). Check the fingerprint with the server's administrator, then run "
                    "again with --trust-new-host to add it to known_hosts"
                )
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as stream:
                stream.write(known_hosts_line(target.known_hosts_name, key))
            path.chmod(0o600)
            client.get_host_keys().add(target.known_hosts_name, key.get_name(), key)

    return Policy()


def _load_private_key(text: str, display: str, source: str) -> Any:
    import io

    import paramiko

    for kind in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return kind.from_private_key(io.StringIO(text.strip() + "\n"))
        except (paramiko.SSHException, ValueError):
            continue
    raise SshError(f"ssh {display}: the private key in {source} is not an unencrypted "
                   "ed25519, ECDSA or RSA key in OpenSSH/PEM format")  # fmt: skip


class LineSplitter:
    """Hands each complete line of a command's output to ``on_line`` as the bytes arrive (a line cut
    between two reads is held until its end comes). From a ``terminal`` (a pty), ``\r\n`` ends a line."""

    def __init__(self, on_line: Callable[[str], None] | None, *, terminal: bool = False) -> None:
        self.on_line = on_line
        self.terminal = terminal
        self._pending = bytearray()

    def feed(self, data: bytes) -> None:
        if self.on_line is None:
            return
        self._pending += data
        if b"\n" not in data:
            return
        *complete, rest = bytes(self._pending).split(b"\n")
        self._pending = bytearray(rest)
        for line in complete:
            self.on_line(self._decoded(line))

    def end(self) -> None:
        """The output ended: a last line without its newline is handed on too."""
        if self.on_line is not None and self._pending:
            self.on_line(self._decoded(bytes(self._pending)))
        self._pending.clear()

    def text(self, out: bytes | bytearray) -> str:
        """All of the output, decoded (a terminal's line ends made ``\n``)."""
        text = out.decode("utf-8", "replace")
        return text.replace("\r\n", "\n") if self.terminal else text

    def _decoded(self, line: bytes) -> str:
        return line.decode("utf-8", "replace").removesuffix("\r")


class SshHost:
    """Commands and files on a server, over one SSH connection opened on first use."""

    def __init__(self, target: SshTarget) -> None:
        self.target = target
        self._connection: Any = None
        self._sftp_client: Any = None

    @property
    def name(self) -> str:
        return self.target.display

    @property
    def rehearses(self) -> bool:
        return False

    # --- connection -------------------------------------------------------------------------------

    def connect(self) -> None:
        """Open the connection now (verifying the host key and authenticating); :class:`SshError` if not."""
        if self._connection is not None:
            return

        import paramiko
        from fabric import Connection

        target = self.target
        kwargs: dict[str, Any] = {
            "allow_agent": True,
            "look_for_keys": target.identity_file is None and target.private_key is None,
            "banner_timeout": target.connect_timeout,
            "auth_timeout": target.connect_timeout,
        }
        if target.identity_file:
            kwargs["key_filename"] = [str(Path(target.identity_file).expanduser())]
        if target.private_key:
            kwargs["pkey"] = _load_private_key(target.private_key, self.name, target.private_key_from)
        connection = Connection(
            target.host,
            user=target.login,
            port=target.port,
            connect_timeout=target.connect_timeout,
            connect_kwargs=kwargs,
        )
        client = connection.client
        # fabric trusts any new key by default; shipflow checks known_hosts and refuses what it cannot verify.
        if target.known_hosts_path.is_file():
            client.load_system_host_keys(str(target.known_hosts_path))
        client.set_missing_host_key_policy(_host_key_policy(target))
        try:
            connection.open()
        except paramiko.BadHostKeyException as error:
            forget = shlex.join(
                ["ssh-keygen", "-R", target.known_hosts_name, "-f", str(target.known_hosts_path)]
            )
            raise SshError(
                f"ssh {self.name}: the host key CHANGED: the server offers {error.key.get_name()} "
                f"{fingerprint(error.key)} but {target.known_hosts_path} has "
                f"{fingerprint(error.expected_key)}. This may be an attack; shipflow never trusts a changed "
                f"key. If the server was really reinstalled, remove the old entry with "
                f"`{forget}` and run again with --trust-new-host"
            ) from None
        except paramiko.AuthenticationException as error:
            raise SshError(
                f"ssh {self.name}: authentication failed ({error}); check the user, the key "
                "(identity_file, identity_key_from or ssh-agent) and the server's authorized_keys"
            ) from None
        except SshError:
            raise
        except paramiko.SSHException as error:
            if "No authentication methods available" not in str(error):
                raise SshError(f"ssh {self.name}: cannot connect: {error}") from None
            raise SshError(
                f"ssh {self.name}: authentication failed: no key to offer. Name identity_file or "
                "identity_key_from in the target, or add a key to ssh-agent (SSH_AUTH_SOCK)"
            ) from None
        except (TimeoutError, OSError, EOFError) as error:
            detail = str(error) or type(error).__name__
            raise SshError(f"ssh {self.name}: cannot connect: {detail}") from None
        transport = client.get_transport()
        if transport is not None:
            transport.set_keepalive(15)
        self._connection = connection

    def close(self) -> None:
        if self._sftp_client is not None:
            self._sftp_client.close()
            self._sftp_client = None
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _transport(self) -> Any:
        self.connect()
        transport = self._connection.client.get_transport()
        if transport is None or not transport.is_active():
            raise SshError(f"ssh {self.name}: the connection was closed")
        return transport

    def _sftp(self) -> Any:
        if self._sftp_client is None:
            self.connect()
            try:
                self._sftp_client = self._connection.client.open_sftp()
            except Exception as error:  # paramiko raises SSHException or OSError
                raise SshError(f"ssh {self.name}: cannot open SFTP: {error}") from None
        return self._sftp_client

    # --- commands ---------------------------------------------------------------------------------

    def query(self, argv: Sequence[str], *, timeout: float | None = None) -> CommandResult:
        return self.run(argv, timeout=timeout)

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float | None = None,
    ) -> CommandResult:
        chunks = (
            None if stdin is None else (stdin[start : start + CHUNK] for start in range(0, len(stdin), CHUNK))
        )
        return self.run_stream(argv, chunks, timeout=timeout)

    def run_stream(
        self,
        argv: Sequence[str],
        chunks: Iterable[bytes] | None,
        *,
        timeout: float | None = None,
        on_line: Callable[[str], None] | None = None,
        stop: threading.Event | None = None,
    ) -> CommandResult:
        """Run ``argv`` feeding it ``chunks`` (any size, e.g. a ``docker save`` stream) on stdin.

        When the command ends before reading everything, no further chunk is read from ``chunks``; the
        command's exit code and output say why. ``on_line`` gets each line of its output as it arrives.
        Given ``stop``, the command runs on a terminal of the server, so closing the channel (``stop`` set,
        or the caller interrupted) hangs it up: the command ends on the server too, as with ``ssh -t``.
        """
        import paramiko

        deadline = None if timeout is None else time.monotonic() + timeout
        out, err = bytearray(), bytearray()
        lines = LineSplitter(on_line, terminal=stop is not None)
        channel: Any = None
        code = -1
        try:
            channel = self._transport().open_session()
            if stop is not None:
                channel.get_pty(width=500)  # wide: no line is wrapped by the server's terminal
            channel.exec_command(shlex.join(argv))  # nosec B601 - every word quoted by shlex.join
            for chunk in chunks or ():
                if not self._send(channel, chunk, out, err, deadline, argv, lines):
                    break
            channel.shutdown_write()
            if self._wait(channel, out, err, deadline, argv, lines, stop):
                code = channel.recv_exit_status()
                self._drain(channel, out, err, lines)
        except (paramiko.SSHException, OSError, EOFError) as error:
            raise SshError(
                f"ssh {self.name}: the connection failed during `{shlex.join(argv)}`: {error}"
            ) from None
        finally:
            if channel is not None:
                channel.close()
        lines.end()
        return CommandResult(
            argv=tuple(argv), exit_code=code, stdout=lines.text(out), stderr=err.decode("utf-8", "replace")
        )

    def _wait(
        self,
        channel: Any,
        out: bytearray,
        err: bytearray,
        deadline: float | None,
        argv: Sequence[str],
        lines: LineSplitter,
        stop: threading.Event | None,
    ) -> bool:
        """Read the command's output until it exits (True) or ``stop`` is set (False)."""
        pause = POLL_SECONDS if stop is None else STOPPABLE_POLL_SECONDS
        while not (
            channel.exit_status_ready() and not channel.recv_ready() and not channel.recv_stderr_ready()
        ):
            if stop is not None and stop.is_set():
                return False
            if not self._drain(channel, out, err, lines):
                self._check_deadline(deadline, argv, channel)
                time.sleep(pause)
        return True

    def run_attached(self, argv: Sequence[str]) -> int:
        """``argv`` on a terminal of the server sized like this one, this terminal in raw mode meanwhile
        (restored however it ends): keys typed go to the command, its output straight to the screen."""
        import sys

        import paramiko

        from shipflow.hosts import terminal

        stdin_fd, stdout_fd = sys.stdin.fileno(), sys.stdout.fileno()
        sys.stdout.flush()  # what shipflow printed comes before the command's own output
        channel: Any = None
        try:
            channel = self._transport().open_session()
            columns, rows = terminal.size(stdout_fd)
            channel.get_pty(term=terminal.kind(), width=columns, height=rows)
            channel.exec_command(shlex.join(argv))  # nosec B601 - every word quoted by shlex.join

            def resize() -> None:
                channel.resize_pty(*terminal.size(stdout_fd))

            with terminal.raw(stdin_fd):
                terminal.pump(channel, stdin_fd, stdout_fd, resize)
            return int(channel.recv_exit_status())
        except (paramiko.SSHException, OSError, EOFError) as error:
            raise SshError(
                f"ssh {self.name}: the connection failed during `{shlex.join(argv)}`: {error}"
            ) from None
        finally:
            if channel is not None:
                channel.close()

    def _send(
        self,
        channel: Any,
        chunk: bytes,
        out: bytearray,
        err: bytearray,
        deadline: float | None,
        argv: Sequence[str],
        lines: LineSplitter,
    ) -> bool:
        """Send ``chunk``; False when the command ended first (without reading everything)."""
        # Read while writing: a command that prints while it reads must never block us both.
        view = memoryview(chunk)
        while view:
            if channel.exit_status_ready():
                return False
            if channel.send_ready():
                sent = channel.send(bytes(view[:CHUNK]))
                if sent == 0:
                    raise SshError(f"ssh {self.name}: `{shlex.join(argv)}` stopped reading its input")
                view = view[sent:]
            else:
                self._drain(channel, out, err, lines)
                self._check_deadline(deadline, argv, channel)
                time.sleep(0.001)
        return True

    @staticmethod
    def _drain(channel: Any, out: bytearray, err: bytearray, lines: LineSplitter) -> bool:
        got = False
        while channel.recv_ready():
            data = channel.recv(CHUNK)
            out += data
            lines.feed(data)
            got = True
        while channel.recv_stderr_ready():
            err += channel.recv_stderr(CHUNK)
            got = True
        return got

    def _check_deadline(self, deadline: float | None, argv: Sequence[str], channel: Any) -> None:
        if deadline is not None and time.monotonic() > deadline:
            channel.close()
            raise HostError(f"{self.name}: `{shlex.join(argv)}` did not finish in time")

    # --- files ------------------------------------------------------------------------------------

    def write_file(self, path: str, content: bytes, *, mode: int = 0o644) -> None:
        parent, base = posixpath.split(path)
        temporary = posixpath.join(parent, f".{base}.{uuid.uuid4().hex[:12]}")
        sftp = self._sftp()
        try:
            try:
                stream = sftp.open(temporary, "wb")
            except FileNotFoundError:  # its folder is missing: made only then (a round trip of its own)
                self.run(["mkdir", "-p", parent]).check(self.name)
                stream = sftp.open(temporary, "wb")
            with stream:
                sftp.chmod(temporary, mode)  # before the first byte: a secret is never readable by others
                stream.write(content)
            sftp.posix_rename(temporary, path)
        except OSError as error:
            with contextlib.suppress(OSError):
                sftp.remove(temporary)
            raise HostError(f"{self.name}: cannot write {path}: {error}") from None

    def read_file(self, path: str) -> bytes | None:
        sftp = self._sftp()
        try:
            with sftp.open(path, "rb") as stream:
                stream.prefetch()
                return bytes(stream.read())
        except FileNotFoundError:
            return None
        except OSError as error:
            raise HostError(f"{self.name}: cannot read {path}: {error}") from None
