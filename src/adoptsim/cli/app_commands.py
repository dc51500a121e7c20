"""The commands for analysts: ``report`` (the one-page HTML brief of a results folder) and
``app`` (the web explorer, needs ``pip install 'adoptsim[app]'``). docs/cli.md."""

from __future__ import annotations

from ..errors import AdoptsimError
from .common import emit, waited, warn


def cmd_report(args) -> int:
    from ..workflows.kinds import expect_kind
    from ..workflows.report import write_report

    expect_kind(args.results, ("run",), "report")
    if args.against is not None:
        expect_kind(args.against, ("run",), "report --against")
    rep = write_report(args.results, args.out, args.against, args.overwrite)
    emit(args, str(rep.out), {"command": "report", "out": str(rep.out), "dates": rep.dates,
                              "against": rep.against, "seconds": round(waited(args), 3)})
    return 0


def cmd_app(args) -> int:
    if not 0 < args.port < 65536:
        raise AdoptsimError(f"--port: expected a port number 1..65535, got {args.port}")
    try:
        from ..app.server import serve
    except ImportError as exc:
        raise AdoptsimError(f"app: the web explorer needs the app extra: pip install 'adoptsim[app]' ({exc})") from None
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        warn(args, f"app: listening on {args.host}: anyone who reaches it can run simulations and read the "
                   "scenario files below the current folder")
    serve(args.host, args.port, quiet=args.quiet)
    return 0
