"""Progress of a long command over many municipalities: a bar on a terminal, a plain line per
municipality otherwise (a log, a pipe, CI), and a summary at the end.

One municipality's failure is reported with its name and the command goes on with the others;
:meth:`Progress.finish` then fails the command with every failure in one line. (A few lines of
our own: a progress library would be a dependency for one bar.)
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from journalloft.cli.common import CommandError

BAR_WIDTH = 30


class Progress:
    def __init__(
        self,
        action: str,
        total: int,
        *,
        out: TextIO | None = None,
        bar: TextIO | None = None,
    ) -> None:
        self.action = action
        self.total = total
        self.out = out or sys.stdout
        self.bar = bar if bar is not None else sys.stderr
        self.terminal = self.bar.isatty()
        self.done = 0
        self.failures: list[str] = []
        self.started = time.monotonic()

    def succeeded(self, name: str, outcome: str) -> None:
        self._line(f"[{self.done + 1}/{self.total}] {name}: {outcome}")

    def failed(self, name: str, reason: str) -> None:
        self.failures.append(f"{name}: {reason}")
        self._line(f"[{self.done + 1}/{self.total}] {name}: FAILED {reason}")

    def _line(self, text: str) -> None:
        self.done += 1
        if self.terminal:
            self.bar.write("\r\033[K")
            self.bar.flush()
        print(text, file=self.out, flush=True)
        if self.terminal and self.done < self.total:
            filled = BAR_WIDTH * self.done // max(self.total, 1)
            self.bar.write(
                f"{self.action} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] "
                f"{self.done}/{self.total}"
            )
            self.bar.flush()

    def finish(self) -> None:
        """The summary; :class:`CommandError` naming every failure if any."""
        took = time.monotonic() - self.started
        ok = self.done - len(self.failures)
        print(
            f"{self.action}: {ok} of {self.total} done, {len(self.failures)} failed, "
            f"in {took:.1f} s",
            file=self.out,
            flush=True,
        )
        if self.failures:
            raise CommandError(
                f"{self.action}: {len(self.failures)} of {self.total} failed: "
                + "; ".join(self.failures)
            )
