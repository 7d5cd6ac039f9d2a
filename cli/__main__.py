"""``python -m cli ...`` runs the ``campaigns`` command; it is how ``campaigns dev`` starts its
parts, so each one first arranges to stop if ``campaigns dev`` is killed without cleaning up."""

from cli.main import app
from cli.processes import die_with_parent

die_with_parent()
app(prog_name="campaigns")
