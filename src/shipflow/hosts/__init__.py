"""Where commands run: this machine, a server over SSH, or a dry run that only records.

Engines talk to a :class:`Host` and never know which one they have. Commands are argv lists (built by
pure functions elsewhere); file contents travel as bytes through stdin or SFTP, never through argv, so a
secret in an env file cannot show up in a process list or a log of commands.
"""

from shipflow.hosts.base import CommandResult, Host, HostCommandError, HostError
from shipflow.hosts.dryrun import DryRunHost
from shipflow.hosts.local import LocalHost

__all__ = ["CommandResult", "DryRunHost", "Host", "HostCommandError", "HostError", "LocalHost"]
