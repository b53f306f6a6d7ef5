"""Response headers that keep the console out of frames and other sites' hands.

The console's pages load their scripts, styles and data from this origin only, so its policy
allows nothing else; `/docs` (Swagger UI from a CDN) keeps its sources but may not be framed
either. A pure ASGI middleware, so Server-Sent Events stream through untouched.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONSOLE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
EVERYWHERE: list[tuple[bytes, bytes]] = [
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        console = str(scope.get("path", "")).startswith("/console")
        policy = CONSOLE_POLICY if console else "frame-ancestors 'none'"

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    *EVERYWHERE,
                    (b"content-security-policy", policy.encode()),
                ]
            await send(message)

        await self.app(scope, receive, with_headers)
