"""`sistercity web`: serve the office web app (scheduler.web) with uvicorn.

The signing key comes only from the environment variable that `web.secret_env` names; without
it the command exits 2 naming the variable, before anything is served.
"""

from __future__ import annotations

import click

from scheduler.cli.common import Context, fail, pass_ctx


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535),
              help="Port to listen on.")
@pass_ctx
def web(c: Context, host: str, port: int) -> None:
    """Serve the office web app (behind a TLS reverse proxy in production)."""
    settings = c.settings
    secret = settings.web.secret()
    if secret is None:
        fail(f"the web app's signing key is missing: set the environment variable "
             f"{settings.web.secret_env} (web.secret_env) to a long random string")
    import uvicorn  # lazy: keeps --help fast

    from scheduler.web.app import create_app

    app = create_app(settings, c.database(), secret=secret)
    click.echo(f"serving on http://{host}:{port}/ (Ctrl-C stops)", err=True)
    uvicorn.run(app, host=host, port=port, proxy_headers=True, log_level="warning")


COMMANDS = (web,)
