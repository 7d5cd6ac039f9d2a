"""The ``campaigns`` console script: the local stack, its parts, and commands for people."""

from __future__ import annotations

import typer

from cli import client_commands, demo, stack

app = typer.Typer(
    name="campaigns",
    help="Durable social reward campaigns on Temporal.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def main() -> None:
    """Durable social reward campaigns on Temporal."""


# The local stack and its parts: dev, migrate, sandbox, api, worker (cli/stack.py).
stack.register(app)

# For people and scripts: list, show, publish, pause, resume, cancel, status, watch against
# the API (cli/client_commands.py).
client_commands.register(app)

# A whole campaign against the local stack's sandbox in about a minute (cli/demo.py).
app.command("demo")(demo.demo)
