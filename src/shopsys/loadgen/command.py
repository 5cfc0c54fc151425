"""``shopsys load``: drive the storefront API and report throughput, latency and statuses."""

from __future__ import annotations

import json
import sys
from typing import Annotated, TextIO

import typer

from shopsys.loadgen.endpoints import DEFAULT_MIX, ENDPOINTS, MixError, parse_mix
from shopsys.loadgen.stats import Progress, format_progress, format_summary

_ENDPOINT_HELP = ", ".join(ENDPOINTS)


class _ProgressPrinter:
    """A live line on a terminal (rewritten in place), a line every few seconds in a log."""

    def __init__(self, stream: TextIO, duration: float) -> None:
        self.stream = stream
        self.duration = duration
        self.live = stream.isatty()
        self._last_logged = 0.0

    def __call__(self, progress: Progress) -> None:
        line = format_progress(progress, self.duration)
        if self.live:
            self.stream.write("\r\033[2K" + line)
        elif progress.elapsed - self._last_logged >= 5.0:
            self._last_logged = progress.elapsed
            self.stream.write(line + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.live:
            self.stream.write("\n")
            self.stream.flush()


def load(
    url: Annotated[
        str,
        typer.Option("--web-url", "--url", envvar="SHOPSYS_LOAD_URL", help="Base URL of serve-web"),
    ] = "http://localhost:8000",
    rate: Annotated[
        float | None,
        typer.Option(
            min=0.1,
            help="Requests per second (open loop: sent on schedule however slow the server is). "
            "Without it, --concurrency clients each send their next request when the last ends.",
        ),
    ] = None,
    concurrency: Annotated[
        int, typer.Option(min=1, max=10_000, help="Concurrent clients when no --rate is given")
    ] = 16,
    duration: Annotated[float, typer.Option(min=0.1, max=86_400, help="Seconds to run")] = 30.0,
    users: Annotated[int, typer.Option(min=1, max=1_000_000, help="Distinct user ids")] = 100,
    mix: Annotated[
        str,
        typer.Option(help=f"Endpoint weights, e.g. purchase=8,history=2; from {_ENDPOINT_HELP}"),
    ] = DEFAULT_MIX,
    timeout: Annotated[float, typer.Option(min=0.1, help="Per-request timeout in seconds")] = 10.0,
    max_in_flight: Annotated[
        int,
        typer.Option(min=1, help="With --rate: requests beyond this many in flight are dropped"),
    ] = 1_000,
    user_prefix: Annotated[str, typer.Option(help="User ids are PREFIX-00000, ...")] = "load-user",
    seed: Annotated[int | None, typer.Option(help="Random seed, for repeatable runs")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summary as JSON on stdout")
    ] = False,
    quiet: Annotated[bool, typer.Option(help="No progress line")] = False,
) -> None:
    """Generate load on the storefront API, e.g. to watch KEDA scale the web role.

    Prints a live progress line and a summary: requests/s, p50/p95/p99 latency, status counts.
    Ctrl-C ends the run early and still prints the summary. Exits 1 when the server cannot
    be reached or answered nothing but failures.
    """
    # Here, not at the top: every role's CLI registers this command, and only it needs them.
    import uvloop

    from shopsys.loadgen.engine import LoadError, LoadPlan, run_load

    try:
        parsed_mix = parse_mix(mix)
    except MixError as error:
        raise typer.BadParameter(str(error), param_hint="--mix") from None
    plan = LoadPlan(
        base_url=url,
        mix=parsed_mix,
        duration=duration,
        rate=rate,
        concurrency=concurrency,
        users=users,
        timeout=timeout,
        max_in_flight=max_in_flight,
        seed=seed,
        user_prefix=user_prefix,
    )
    shape = f"{rate:g} req/s" if rate is not None else f"{concurrency} concurrent clients"
    typer.echo(
        f"load: {url} for {duration:g} s, {shape}, {users} users; mix {parsed_mix.describe()}",
        err=True,
    )
    printer = None if quiet else _ProgressPrinter(sys.stderr, duration)
    try:
        summary = uvloop.run(run_load(plan, on_progress=printer, stop_on_sigint=True))
    except LoadError as error:
        typer.echo(f"load failed: {error}", err=True)
        raise typer.Exit(1) from None
    finally:
        if printer is not None:
            printer.finish()
    if as_json:
        typer.echo(json.dumps(summary.as_dict(), indent=2))
    else:
        typer.echo(format_summary(summary))
    if summary.requests > 0 and summary.failures == summary.requests:
        raise typer.Exit(1)
