"""``python -m cli ...`` runs the ``campaigns`` command (how ``campaigns dev`` starts its parts)."""

from cli.main import app

app(prog_name="campaigns")
