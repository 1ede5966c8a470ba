"""`python -m backend.cli`: the same as the `reelhouse` command."""

from backend.cli import app

app()
