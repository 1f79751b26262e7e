"""The bridge as a separate process, the way a platform engineer runs it: `calbridge run --config FILE`.

The demo, the end-to-end tests and the crash tests start the bridge through its command line, wait for
`/readyz`, and stop it with SIGTERM (plans in flight finish, exit 0) or kill it with SIGKILL (the crash a
restart must survive). Its log goes to a file next to the config. When the config names an ops token file,
its own probes send that token.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any


class BridgeDidNotStart(RuntimeError):
    pass


class BridgeProcess:
    """One `calbridge run` process; `start()` returns once it reports ready."""

    def __init__(self, config: Path, log: Path | None = None, env: dict[str, str] | None = None) -> None:
        self.config = config
        self.log = log or config.with_name("bridge.log")
        self.env = {**os.environ, **(env or {})}
        settings = tomllib.loads(config.read_text())
        ops = settings.get("ops", {})
        self.ops_url = f"http://{ops.get('host', '127.0.0.1')}:{ops.get('port', 8765)}"
        token_file = ops.get("token_file")
        token = Path(token_file).read_text(encoding="utf-8").strip() if token_file else ""
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    def start(self, timeout: float = 60.0) -> BridgeProcess:
        self._log_file = self.log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bridge", "run", "--config", str(self.config)],
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=self.env,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BridgeDidNotStart(f"calbridge run exited with {self.process.returncode}: {self.tail()}")
            if self.ready():
                return self
            time.sleep(0.1)
        raise BridgeDidNotStart(f"calbridge run not ready after {timeout:.0f} s: {self.tail()}")

    def readiness(self) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(self._ops("/readyz"), timeout=2) as answer:
                body: dict[str, Any] = json.loads(answer.read() or b"{}")
                return body
        except urllib.error.HTTPError:
            return None
        except (OSError, ValueError):
            return None

    def ready(self) -> bool:
        return self.readiness() is not None

    def metrics(self) -> str:
        with urllib.request.urlopen(self._ops("/metrics"), timeout=5) as answer:
            return str(answer.read().decode())

    def _ops(self, path: str) -> urllib.request.Request:
        return urllib.request.Request(self.ops_url + path, headers=self._headers)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, then wait: the bridge finishes the plans in flight and exits."""
        return self._end(signal.SIGTERM, timeout)

    def kill(self) -> int:
        """SIGKILL: a crash, with whatever was in flight."""
        return self._end(signal.SIGKILL, 10.0)

    def _end(self, signum: int, timeout: float) -> int:
        assert self.process is not None, "not started"
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        if self._log_file is not None:
            self._log_file.close()
        return code

    def tail(self, lines: int = 20) -> str:
        if self._log_file is not None and not self._log_file.closed:
            self._log_file.flush()
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> BridgeProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.stop()
