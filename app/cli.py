"""Flask CLI commands: demo data, translations."""
from __future__ import annotations

import os
import subprocess
import sys

import click
from flask import Flask

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def register_cli(app: Flask) -> None:
    @app.cli.command("seed-demo")
    @click.option("--persons", default=240, help="Number of demo professionals.")
    def seed_demo(persons: int) -> None:
        """Load the demo organisations and accounts (idempotent: does nothing if already loaded)."""
        from .demo import seed

        created = seed(persons=persons)
        click.echo("demo data loaded" if created else "demo data already present")

    @app.cli.group()
    def translate() -> None:
        """Translation commands (wrapping pybabel)."""

    def _pybabel(*args: str) -> None:
        subprocess.run([sys.executable, "-m", "babel.messages.frontend", *args], check=True, cwd=ROOT)

    @translate.command()
    def update() -> None:
        """Extract messages and merge them into translations/zh."""
        _pybabel("extract", "-F", "babel.cfg", "-k", "_l", "-k", "lazy_gettext", "-k", "N_", "-o", "messages.pot", ".")
        _pybabel("update", "-i", "messages.pot", "-d", "translations", "--no-fuzzy-matching", "--ignore-obsolete")
        os.remove(os.path.join(ROOT, "messages.pot"))

    @translate.command()
    def compile() -> None:  # noqa: A001 - CLI verb
        """Compile translations/*/LC_MESSAGES/messages.po into .mo files."""
        _pybabel("compile", "-d", "translations")
