"""One OpenAPI document per function, derived from the dev server's docs/openapi.json.

docs/openapi.json is the one source: the dev server (``make run``) serves it, and its
paths carry the prefix under which the dev server mounts each function (``/query/log``).
A deployed function, or ``functions-framework --target query``, answers at its own root
(``/log``), so a client generated from the combined document would 404 there. This tool
writes docs/openapi/<function>.json for each function: its paths without the prefix, its
own servers (the dev server's mount, a standalone functions-framework, the deployed URL)
and only the components it uses. A client generated from one of them works against any
of those servers by changing its base URL alone.

Example::

    python -m tools.openapi_docs           # rewrite docs/openapi/*.json
    python -m tools.openapi_docs --check   # exit 1 when a written document is stale
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "docs" / "openapi.json"
OUT_DIR = REPO / "docs" / "openapi"
FUNCTIONS = ("create", "query", "supersede", "verify")
STANDALONE_PORT = 8081

Document = dict[str, Any]


def _servers(function: str) -> list[dict[str, Any]]:
    return [
        {
            "url": "https://{region}-{project}.cloudfunctions.net/{prefix}-" + function,
            "description": f"The deployed {function} function (infra/: name_prefix-{function}).",
            "variables": {
                "region": {"default": "europe-west1", "description": "The deployment region."},
                "project": {"default": "my-project", "description": "The Google Cloud project."},
                "prefix": {"default": "plant", "description": "Terraform's name_prefix."},
            },
        },
        {
            "url": f"http://127.0.0.1:8080/{function}",
            "description": f"make run: the dev server mounts {function} under /{function}.",
        },
        {
            "url": f"http://127.0.0.1:{STANDALONE_PORT}",
            "description": (
                f"functions-framework --target {function} --source main.py "
                f"--port {STANDALONE_PORT} (README: running one function)."
            ),
        },
    ]


def _refs(node: object) -> Iterator[str]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            elif key == "mapping" and isinstance(value, Mapping):
                # A discriminator's mapping names schemas too.
                yield from (v for v in value.values() if isinstance(v, str))
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _used_components(source: Document, roots: object) -> dict[str, dict[str, Any]]:
    """The components reachable from ``roots``, transitively, in the source's order."""
    components = source["components"]
    seen: set[tuple[str, str]] = set()
    pending = list(_refs(roots))
    while pending:
        ref = pending.pop()
        section, name = ref.removeprefix("#/components/").split("/", 1)
        if (section, name) in seen:
            continue
        seen.add((section, name))
        pending.extend(_refs(components[section][name]))
    used: dict[str, dict[str, Any]] = {}
    for section, entries in components.items():
        kept = {name: body for name, body in entries.items() if (section, name) in seen}
        if kept:
            used[section] = kept
    return used


def _operations(paths: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for item in paths.values():
        yield from item.values()


def function_document(source: Document, function: str) -> Document:
    """``function``'s own document: its paths at its root, its servers, its components."""
    prefix = f"/{function}"
    paths = {
        (path.removeprefix(prefix) or "/"): copy.deepcopy(item)
        for path, item in source["paths"].items()
        if path == prefix or path.startswith(prefix + "/")
    }
    schemes = {
        name for op in _operations(paths) for req in op.get("security", []) for name in req
    } | {name for req in source.get("security", []) for name in req}
    components = _used_components(source, paths)
    components["securitySchemes"] = {
        name: body
        for name, body in source["components"]["securitySchemes"].items()
        if name in schemes
    }
    tags = {tag for op in _operations(paths) for tag in op.get("tags", [])}
    info = copy.deepcopy(source["info"])
    info["title"] = f"{source['info']['title']}: the {function} function"
    info["description"] = (
        f"The {function} function at its own URL (deployed, or functions-framework "
        f"--target {function}); the dev server mounts it under /{function}. Generated "
        "by tools/openapi_docs.py from docs/openapi.json. " + source["info"]["description"]
    )
    return {
        "openapi": source["openapi"],
        "jsonSchemaDialect": source["jsonSchemaDialect"],
        "info": info,
        "servers": _servers(function),
        "tags": [copy.deepcopy(tag) for tag in source["tags"] if tag["name"] in tags],
        "security": copy.deepcopy(source["security"]),
        "paths": paths,
        "components": components,
    }


def render(document: Document) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def documents(source: Document) -> dict[Path, str]:
    return {
        OUT_DIR / f"{function}.json": render(function_document(source, function))
        for function in FUNCTIONS
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="openapi_docs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail when a document is stale")
    args = parser.parse_args(argv)
    wanted = documents(json.loads(SOURCE.read_text()))
    if args.check:
        stale = [p for p, text in wanted.items() if not p.exists() or p.read_text() != text]
        for path in stale:
            print(
                f"{path.relative_to(REPO)} is stale: run python -m tools.openapi_docs",
                file=sys.stderr,
            )
        return 1 if stale else 0
    OUT_DIR.mkdir(exist_ok=True)
    for path, text in wanted.items():
        path.write_text(text)
        print(f"wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
