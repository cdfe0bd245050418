"""Per-function routing on werkzeug's ``Map``: functions-framework hands every path to us.

Each function declares its routes once, in OpenAPI's path-template spelling (the same
strings docs/openapi.json uses), and ``Routes`` compiles them into a werkzeug ``Map``.
A path that matches no route is a 404; a path that matches with another method is a 405
carrying ``Allow``. Nothing falls through to a default, so ``TRACE /`` on create can never
create. Every function also answers ``GET /healthz`` (added here, once), so a standalone
``functions-framework --target X`` has a health path of its own.

Example::

    routes = Routes("query", [Route("GET", "/entities/{entity_id}", "query.get", get)])
    route, params = routes.match("GET", "/entities/abc")   # params == {"entity_id": "abc"}
    routes.allowed("/entities/abc")                        # ("GET", "HEAD", "OPTIONS")
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import BaseConverter, Map, RequestRedirect, Rule

from functions.problems import MethodNotAllowedError
from shared.core.errors import NotFoundError

if TYPE_CHECKING:
    from functions.endpoint import Call, Reply

Handler = Callable[["Call"], "Reply"]

HEALTH_PATH = "/healthz"
# The order methods are listed in Allow, whatever order the routes were declared in.
_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_TEMPLATE_PARAM = re.compile(r"\{([a-z_]+)\}")


class SegmentConverter(BaseConverter):
    """A path parameter is one segment of bounded, URL-safe characters.

    Anything else cannot name an entity, so it is a 404 before any work is done.
    """

    regex = r"[A-Za-z0-9._:\-]{1,128}"


class TilePathConverter(BaseConverter):
    """A tlog-tiles resource path (``tile/0/x001/234.p/7``): several short segments.

    The route only bounds the characters; ``parse_tile_path`` decides what is a tile.
    """

    regex = r"tile/[a-z0-9./]{1,96}"
    part_isolating = False


@dataclass(frozen=True)
class Route:
    """``op`` names the operation in logs; ``query`` lists the accepted query parameters."""

    method: str
    pattern: str
    op: str
    handler: Handler
    query: frozenset[str] = frozenset()

    def rule(self) -> Rule:
        # A template parameter named ``tile_path`` spans segments; every other is one.
        path = self.pattern.replace("{tile_path}", "<tilepath:tile_path>")
        path = _TEMPLATE_PARAM.sub(r"<segment:\1>", path)
        return Rule(path, methods=[self.method], endpoint=self.op)


class Routes:
    """One function's route table, plus its health route."""

    def __init__(self, function: str, routes: Sequence[Route], *, health: Handler) -> None:
        self.function = function
        self.routes = (*routes, Route("GET", HEALTH_PATH, f"{function}.health", health))
        self._by_op = {route.op: route for route in self.routes}
        self._map = Map(
            [route.rule() for route in self.routes],
            converters={"segment": SegmentConverter, "tilepath": TilePathConverter},
            # "/batch/" is not "/batch": a path either matches exactly or is a 404.
            strict_slashes=True,
            redirect_defaults=False,
        )
        self._adapter = self._map.bind("localhost")

    def allowed(self, path: str) -> tuple[str, ...]:
        """Methods some route accepts on ``path`` (HEAD with GET, OPTIONS with any)."""
        methods = set(self._adapter.allowed_methods(path or "/"))
        if methods:
            methods.add("OPTIONS")
        return tuple(method for method in _METHOD_ORDER if method in methods)

    def match(self, method: str, path: str) -> tuple[Route, Mapping[str, str]]:
        """The route for ``method`` and ``path``, or NotFoundError / MethodNotAllowedError."""
        try:
            # An empty path is the function's root: a mount point reached without "/".
            op, params = self._adapter.match(path or "/", method)
        except (NotFound, RequestRedirect):
            raise NotFoundError("no such resource") from None
        except MethodNotAllowed:
            allow = self.allowed(path)
            raise MethodNotAllowedError(
                f"this resource allows only {', '.join(allow)}", allow=allow
            ) from None
        return self._by_op[op], params
