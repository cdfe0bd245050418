"""Per-function routing: functions-framework hands every method and path to the target.

Each function owns a small ``Router``. A path that matches no route is a 404; a path that
matches with another method is a 405 carrying ``Allow``. Nothing falls through to a
default, so ``TRACE /`` on create can never create.

Example::

    router = Router([Route("GET", "/entities/{entity_id}", "query.get", get_entity)])
    route, params = router.match("GET", "/entities/abc")   # params == {"entity_id": "abc"}
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from functions.problems import MethodNotAllowedError
from shared.core.errors import NotFoundError

# A path parameter is one segment of bounded, URL-safe characters. Anything else cannot
# name an entity, so it is a 404 before any work is done.
_SEGMENT = r"[A-Za-z0-9._:\-]{1,128}"
_PARAM = re.compile(r"\{([a-z_]+)\}")

H = TypeVar("H")


@dataclass(frozen=True)
class Route(Generic[H]):
    """``op`` names the operation in logs; ``query`` lists the accepted query parameters."""

    method: str
    pattern: str
    op: str
    handler: H
    query: frozenset[str] = frozenset()

    def regex(self) -> re.Pattern[str]:
        parts = _PARAM.split(self.pattern)
        # re.split with one group alternates literal text and parameter names.
        out = "".join(
            re.escape(part) if i % 2 == 0 else f"(?P<{part}>{_SEGMENT})"
            for i, part in enumerate(parts)
        )
        return re.compile(out + r"\Z")


class Router(Generic[H]):
    def __init__(self, routes: Sequence[Route[H]]) -> None:
        self._routes = [(route, route.regex()) for route in routes]

    @property
    def routes(self) -> tuple[Route[H], ...]:
        return tuple(route for route, _ in self._routes)

    def allowed(self, path: str) -> tuple[str, ...]:
        """Methods that some route accepts on ``path`` (HEAD and OPTIONS implied)."""
        methods: list[str] = []
        for route, regex in self._routes:
            if regex.match(path) and route.method not in methods:
                methods.append(route.method)
        if "GET" in methods:
            methods.append("HEAD")
        if methods:
            methods.append("OPTIONS")
        return tuple(methods)

    def match(self, method: str, path: str) -> tuple[Route[H], dict[str, str]]:
        """The route for ``method`` and ``path``, or NotFoundError / MethodNotAllowedError."""
        lookup = "GET" if method == "HEAD" else method
        path_matched = False
        for route, regex in self._routes:
            found = regex.match(path)
            if found is None:
                continue
            path_matched = True
            if route.method == lookup:
                return route, found.groupdict()
        if not path_matched:
            raise NotFoundError("no such resource")
        allow = self.allowed(path)
        raise MethodNotAllowedError(f"this resource allows only {', '.join(allow)}", allow=allow)
