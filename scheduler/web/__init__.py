"""The office web app (SPEC "The office web app"): server-rendered Starlette pages over the
service layer. `scheduler.web.app.create_app` builds the ASGI app; `sistercity web` serves it."""
