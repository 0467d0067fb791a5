"""`copyloom demo`: the whole loop on a temporary database with a simulated Braze broadcast."""

from __future__ import annotations

import json

import click

from copyloom.cli.common import current_settings, handles_errors, json_option


@click.command()
@click.option(
    "--recipients",
    type=click.IntRange(100, 1_000_000),
    default=20_000,
    show_default=True,
    help="Size of the simulated send.",
)
@click.option(
    "--duration-s",
    type=click.FloatRange(5, 3600),
    default=60.0,
    show_default=True,
    help="Real seconds the simulated 6-hour send is compressed into.",
)
@click.option("--seed", type=int, default=7, show_default=True, help="Seed of the simulation.")
@click.option(
    "--serve",
    is_flag=True,
    help="Keep the server running after the send and print the dashboard address and a sign-in "
    "password for the demo tenant; Ctrl-C stops it.",
)
@click.option(
    "--segments",
    is_flag=True,
    help="Declare the recipients' country as context (GB, DE; others fall to other or unknown), with "
    "true click rates whose best wording differs by country; print the figures per segment at the end.",
)
@json_option
@handles_errors
def demo(
    *, recipients: int, duration_s: float, seed: int, serve: bool, segments: bool, as_json: bool
) -> None:
    """Show the whole loop on a temporary SQLite database with a simulated Braze broadcast.

    A real HTTP server on a free loopback port serves a 4-variant experiment with known true click rates;
    a simulated Braze sends to every recipient through the content endpoint, loads open pixels and posts
    delayed clicks (some twice) to /v1/events; the learner moves the weights as it goes. With
    --segments each content call carries the recipient's country (ctx_country) and the learner moves each
    segment's weights apart.
    """
    from copyloom.demo import run_demo

    current_settings()  # the demo runs on its own defaults; a bad variable still stops it here (log level)
    result = run_demo(
        recipients=recipients, seed=seed, quiet=as_json, duration_s=duration_s, serve=serve, segments=segments
    )
    if as_json:
        click.echo(json.dumps(result, indent=2))
