"""The human-readable API page (/docs, and / with USE_DOCS_AS_HOMEPAGE): the OpenAPI
document rendered to one self-contained HTML page on the server. No script, no font or style
sheet from elsewhere, so it works offline and behind any content security policy."""

from __future__ import annotations

import html
import json
import re
from typing import Any

_CSS = """
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;
color:#1d2330}
h1{font-size:1.7rem}h2{margin-top:2.5rem;border-bottom:1px solid #ccd;padding-bottom:.2rem}
h3{font-size:1.05rem;margin:1.6rem 0 .3rem}code{background:#f1f2f6;padding:0 .25em;
border-radius:3px}.method{display:inline-block;min-width:4.2em;font-weight:700;color:#fff;
text-align:center;border-radius:3px;margin-right:.4em;font-size:.85em}.get{background:#2b7a4b}
.post{background:#245fa8}.delete{background:#a83232}table{border-collapse:collapse;
margin:.4rem 0;width:100%}td,th{border:1px solid #dde;padding:.2rem .5rem;text-align:left;
vertical-align:top;font-size:.92em}th{background:#f6f7fa}pre{background:#f6f7fa;
padding:.5rem;overflow:auto}nav a{margin-right:.8em}td p{margin:0}
"""
_METHODS = ("get", "post", "put", "delete")


def _inline(text: str) -> str:
    """Escape, then the little Markdown the document uses: `code`, **bold**, [text](url)."""
    out = html.escape(text, quote=False)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", r'<a href="\2">\1</a>', out)


def _prose(text: str | None) -> str:
    paragraphs = [p.strip() for p in (text or "").split("\n\n") if p.strip()]
    return "".join(f"<p>{_inline(' '.join(p.split()))}</p>" for p in paragraphs)


def _type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f'<a href="#schema-{name}">{name}</a>'
    for combinator in ("allOf", "anyOf", "oneOf"):
        if combinator in schema:
            joined = " or ".join(_type(part) for part in schema[combinator])
            return joined + (" or null" if schema.get("nullable") else "")
    kind = schema.get("type", "any")
    if kind == "array":
        kind = f"array of {_type(schema.get('items', {}))}"
    if "enum" in schema:
        kind += " (" + ", ".join(f"<code>{html.escape(str(v))}</code>" for v in schema["enum"]) + ")"
    return kind + (" or null" if schema.get("nullable") else "")


def _resolve(spec: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in item:
        node: Any = spec
        for part in item["$ref"].lstrip("#/").split("/"):
            node = node[part]
        item = node
    return item


def _parameters(spec: dict[str, Any], params: list[dict[str, Any]]) -> str:
    if not params:
        return ""
    rows = []
    for param in (_resolve(spec, p) for p in params):
        rows.append(f"<tr><td><code>{param['name']}</code></td><td>{param['in']}</td>"
                    f"<td>{_type(param.get('schema', {}))}</td>"
                    f"<td>{_prose(param.get('description'))}</td></tr>")
    return ("<table><tr><th>parameter</th><th>in</th><th>type</th><th>meaning</th></tr>"
            + "".join(rows) + "</table>")


def _body(spec: dict[str, Any], operation: dict[str, Any]) -> str:
    body = operation.get("requestBody")
    if not body:
        return ""
    body = _resolve(spec, body)
    parts = []
    for media, content in body.get("content", {}).items():
        parts.append(f"<p>Body (<code>{media}</code>): {_type(content.get('schema', {}))}</p>")
        if "example" in content:
            parts.append(f"<pre>{html.escape(json.dumps(content['example'], indent=1))}</pre>")
    return "".join(parts)


def _responses(spec: dict[str, Any], operation: dict[str, Any]) -> str:
    rows = []
    for code, response in operation.get("responses", {}).items():
        response = _resolve(spec, response)
        kinds = ", ".join(f"<code>{media}</code> {_type(c.get('schema', {}))}"
                          for media, c in response.get("content", {}).items()) or "empty"
        rows.append(f"<tr><td>{code}</td><td>{kinds}</td>"
                    f"<td>{_prose(response.get('description'))}</td></tr>")
    return ("<table><tr><th>status</th><th>body</th><th>when</th></tr>" + "".join(rows)
            + "</table>")


def _operations(spec: dict[str, Any], tag: str) -> str:
    parts = []
    for path, item in spec["paths"].items():
        for method in _METHODS:
            operation = item.get(method)
            if not operation or tag not in operation.get("tags", ()):
                continue
            params = item.get("parameters", []) + operation.get("parameters", [])
            parts.append(
                f'<h3 id="{operation["operationId"]}"><span class="method {method}">'
                f"{method.upper()}</span><code>{html.escape(path)}</code> "
                f"{_inline(operation.get('summary', ''))}</h3>"
                + _prose(operation.get("description")) + _parameters(spec, params)
                + _body(spec, operation) + _responses(spec, operation))
    return "".join(parts)


def _schemas(spec: dict[str, Any]) -> str:
    parts = []
    for name, schema in spec["components"]["schemas"].items():
        rows = "".join(f"<tr><td><code>{prop}</code></td><td>{_type(sub)}</td>"
                       f"<td>{_prose(sub.get('description'))}</td></tr>"
                       for prop, sub in schema.get("properties", {}).items())
        table = ("<table><tr><th>key</th><th>type</th><th>meaning</th></tr>" + rows
                 + "</table>") if rows else f"<p>{_type(schema)}</p>"
        parts.append(f'<h3 id="schema-{name}">{name}</h3>{_prose(schema.get("description"))}'
                     + table)
    return "".join(parts)


def render(spec: dict[str, Any]) -> str:
    """The whole page for ``spec``."""
    info = spec["info"]
    tags = spec.get("tags", [])
    nav = "".join(f'<a href="#tag-{t["name"]}">{t["name"]}</a>' for t in tags)
    sections = "".join(f'<h2 id="tag-{t["name"]}">{t["name"].capitalize()}</h2>'
                       f"{_prose(t.get('description'))}{_operations(spec, t['name'])}"
                       for t in tags)
    return ("<!doctype html><html lang=en><head><meta charset=utf-8>"
            '<meta name=viewport content="width=device-width,initial-scale=1">'
            f"<title>{html.escape(info['title'])}</title><style>{_CSS}</style></head><body>"
            f"<h1>{html.escape(info['title'])} <small>{html.escape(info['version'])}</small>"
            f'</h1><nav>{nav}<a href="#schemas">schemas</a>'
            '<a href="/openapi.json">openapi.json</a></nav>'
            f"{_prose(info.get('description'))}{sections}"
            f'<h2 id="schemas">Schemas</h2>{_schemas(spec)}</body></html>')
