"""Command-line options built from dataclass fields, so each default, type, unit and help text
is written once (in the config, or for a command's files in hume_ssl.cli.inputs).

    @command(app, cfg=(HumeConfig, ["k", "n_restarts"]), io=(LabelInputs, None))
    def label(cfg: HumeConfig, io: LabelInputs) -> None: ...

Each section names a dataclass and the fields that become options (None: every field that does
not say `flag=None`); the command receives one instance per section. A field's metadata
(hume_ssl.core.params.setting) may set `flag` (the option's name), `flags` (extra declarations,
e.g. "--resume/--no-resume"), `argument=True` (a positional argument), `hidden`, and
`deprecated` (old option names: they still work, with a note naming the new one).
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from typing import Any, Callable, Optional

import typer
from rich.console import Console
from rich.markup import escape

from hume_ssl.core import distributed
from hume_ssl.core.params import REMOVED_IN, Bounds, counts, flag_of, help_of

_console = Console(stderr=True, soft_wrap=True)


def _on_cli(f: dataclasses.Field) -> bool:
    return "flag" not in f.metadata.get("cli", {}) or f.metadata["cli"]["flag"] is not None


def _help(f: dataclasses.Field) -> str:
    """The help text as typed: Rich would read a "[default: ...]" in it as markup and drop it."""
    return escape(help_of(f))


def _parameter(f: dataclasses.Field, hint: Any) -> inspect.Parameter:
    cli = f.metadata.get("cli", {})
    default = f.default if f.default is not dataclasses.MISSING else ...
    if cli.get("argument"):
        info = typer.Argument(default, help=_help(f), show_default=default is not None)
    else:
        decls = cli.get("flags") or (flag_of(f),)
        flag = {"metavar": ""} if hint is bool else {}  # a switch takes no value: no <bool>
        info = typer.Option(default, *decls, help=_help(f), hidden=cli.get("hidden", False),
                            **flag)
    return inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=info,
                             annotation=hint)


def _given(ctx: typer.Context, name: str) -> bool:
    """Whether the option of parameter `name` was typed on the command line (not its default)."""
    source = ctx.get_parameter_source(name)
    return getattr(source, "name", None) == "COMMANDLINE"


def _old_name(field: str, i: int) -> str:
    return f"{field}__old{i}"


class PlainHelp:
    """`--help` shown as the switch it is: typer 0.29 lists it with a `<bool>` type."""

    def get_help_option(self, ctx):
        option = super().get_help_option(ctx)
        if option is not None:
            option.metavar = ""
        return option


class HelpCommand(PlainHelp, typer.core.TyperCommand):
    """A command whose `--help` line shows no type, and whose option of the wrong type (`--k
    abc`) is one line naming the value and what the option takes, as an out-of-range one is
    (typer's own message is a box that names no fix)."""

    fields: dict[str, dataclasses.Field] = {}  # parameter name: its field (set per command)

    def parse_args(self, ctx, args):
        typed = list(args)  # the parser consumes `args`
        try:
            return super().parse_args(ctx, args)
        except typer.BadParameter as e:
            f = self.fields.get(getattr(e.param, "name", None))
            bounds = f.metadata.get("bounds") if f is not None else None
            if f is None or type(e) is not typer.BadParameter or not (bounds or counts(f)):
                raise  # a missing option (a subclass), or no number: typer's own message
            flag = e.param.opts[0]
            what = Bounds.parse(bounds).describe(counts(f)) if bounds else "a whole number"
            _console.print("[bold red]error:[/] " + escape(
                f"{flag} {_typed(typed, e.param.opts)!r}: must be {what}."))
            raise typer.Exit(2) from None


def _typed(args: list[str], opts: list[str]) -> str:
    """The value typed after the option `opts` (its last use: `--k 3 --k abc` gives abc)."""
    value = ""
    for i, a in enumerate(args):
        name, eq, rest = a.partition("=")
        if name in opts:
            value = rest if eq else (args[i + 1] if i + 1 < len(args) else "")
    return value


def command(app: typer.Typer, name: Optional[str] = None, **sections: tuple[type, Any]):
    """Register `fn` as a command whose options are the sections' fields (see the module)."""

    def register(fn: Callable) -> Callable:
        params: dict[str, inspect.Parameter] = {}
        shown: dict[str, dataclasses.Field] = {}  # parameter name: its field (HelpCommand's)
        renamed: list[tuple[str, str, str]] = []  # (hidden parameter, old flag, field)
        plan: dict[str, tuple[type, list[str]]] = {}
        for section, (cls, names) in sections.items():
            fields = {f.name: f for f in dataclasses.fields(cls)}
            hints = typing.get_type_hints(cls)
            chosen = [n for n, f in fields.items() if _on_cli(f)] if names is None else names
            plan[section] = (cls, chosen)
            for n in chosen:
                if n in params:  # one option may feed two sections (e.g. --device)
                    continue
                params[n], shown[n] = _parameter(fields[n], hints[n]), fields[n]
                for i, old in enumerate(fields[n].metadata.get("cli", {}).get("deprecated", ())):
                    hidden = _old_name(n, i)
                    params[hidden] = inspect.Parameter(
                        hidden, inspect.Parameter.KEYWORD_ONLY, annotation=Optional[hints[n]],
                        default=typer.Option(None, old, hidden=True,
                                             help=f"Deprecated name of {flag_of(fields[n])}."))
                    renamed.append((hidden, old, n))
                    shown[hidden] = fields[n]

        def callback(ctx: typer.Context, **kw):
            for hidden, old, field in renamed:
                if kw.get(hidden) is not None:
                    new = params[field].default.param_decls[0].split("/")[0]
                    if _given(ctx, field):  # (before the command's own error handler)
                        _console.print(f"[bold red]error:[/] give {new} or its old name {old}, "
                                       "not both.")
                        raise typer.Exit(2)
                    if distributed.is_main():  # torchrun: said once
                        _console.print(f"[yellow]deprecated:[/] {old} is now {new}; the old "
                                       f"name goes in {REMOVED_IN}.")
                    kw[field] = kw[hidden]
            built = {s: cls(**{n: kw[n] for n in names}) for s, (cls, names) in plan.items()}
            return fn(**built)

        callback.__name__, callback.__doc__ = fn.__name__, fn.__doc__
        context = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                    annotation=typer.Context)  # typer passes the click context
        callback.__signature__ = inspect.Signature([context, *params.values()])
        app.command(name, cls=type("HelpCommand", (HelpCommand,), {"fields": shown}))(callback)
        return fn

    return register
