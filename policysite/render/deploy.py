"""What hosts read beside the pages: `_headers`, `_redirects` and the nginx example.

The security headers live once, in `SECURITY_HEADERS` and `CACHE_RULES`; `_headers` and the
nginx example are both generated from them, so the two cannot drift (the tests compare the
committed deploy/nginx.conf with `nginx_conf`). docs/build-output.md explains each host.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from policysite.model import SiteConfig
from policysite.render import urls

# Sent with every response of the static site; the pages work under this CSP
# (docs/build-output.md, *Pages work without JavaScript and under a strict CSP*).
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    (
        "Content-Security-Policy",
        "default-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'; "
        "object-src 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    (
        "Permissions-Policy",
        "camera=(), microphone=(), geolocation=(), payment=(), usb=(), browsing-topics=()",
    ),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
)

# Cache-Control per path pattern. HTML is left to the host's default (revalidate), because
# hosts join the values of every matching `_headers` rule, and a catch-all would collide.
CACHE_RULES: tuple[tuple[str, str], ...] = (
    ("/assets/*", "public, max-age=31536000, immutable"),  # names carry content hashes
    ("/consent.js", "public, max-age=600"),  # stable name: embedded by every XIMGO page
    ("/consent.css", "public, max-age=600"),
    ("/policy.json", "no-cache"),
    ("/sitemap.xml", "public, max-age=3600"),
)

# Files in dist/ that only hosts read: never served as pages.
HOST_FILES = ("/_headers", "/_redirects")
ATOM_TYPE = "application/atom+xml; charset=utf-8"


def headers_file() -> bytes:
    """`_headers` for Netlify and Cloudflare Pages: security headers on every path, and
    Cache-Control only on paths no other rule matches."""
    lines = ["/*"] + [f"  {name}: {value}" for name, value in SECURITY_HEADERS]
    for pattern, cache in CACHE_RULES:
        lines += ["", pattern, f"  Cache-Control: {cache}"]
    return ("\n".join(lines) + "\n").encode("utf-8")


def redirects_file() -> bytes:
    """`_redirects` for Netlify: answer 404 (with 404.html) under /deploy/, where the nginx
    example ships. `!` forces the rule: without it Netlify serves a file that exists.
    Netlify itself never serves `_headers` and `_redirects`."""
    return (
        b"# Written by every build. deploy/ holds the nginx example: not a page of the site.\n"
        b"/deploy/*  /404.html  404!\n"
    )


def _nginx_headers(indent: str, cache: str | None) -> list[str]:
    # add_header in a location replaces the server's, so each location repeats them all.
    lines = [f'{indent}add_header {name} "{value}" always;' for name, value in SECURITY_HEADERS]
    if cache:
        lines.append(f'{indent}add_header Cache-Control "{cache}" always;')
    return lines


def _nginx_feeds(config: SiteConfig) -> list[str]:
    """One exact location per language's feed: nginx's mime.types would call it text/xml."""
    out: list[str] = []
    for language in config.languages:
        out += [
            "",
            f"    location = {urls.feed_path(config, language)} {{",
            "        types { }",
            f'        default_type "{ATOM_TYPE}";',
            *_nginx_headers("        ", None),
            "    }",
        ]
    return out


def nginx_conf(config: SiteConfig, root: str = "/srv/policysite/dist", listen: str = "80") -> str:
    """An example nginx server block: serves dist/, the same headers as `_headers`, feeds as
    Atom, the 404 page, and the collector on 127.0.0.1:8001 under /api/. Neither the hosts'
    files (`_headers`, `_redirects`) nor this example itself (dist/deploy/) are served."""
    host = urlsplit(config.base_url).hostname or "localhost"
    out = [
        "# Written by every build as dist/deploy/nginx.conf, and checked in as deploy/nginx.conf",
        "# (`python -m policysite.render.deploy > deploy/nginx.conf`); do not edit by hand.",
        "# Headers come from policysite/render/deploy.py, the same source as dist/_headers.",
        "# Add your TLS settings (listen 443 ssl; ssl_certificate …) as your setup requires.",
        "server {",
        f"    listen {listen};",
        f"    server_name {host};",
        f"    root {root};",
        "    index index.html;",
        "    charset utf-8;",
        "    error_page 404 /404.html;",
        "",
        "    location / {",
        "        try_files $uri $uri/ =404;",
        *_nginx_headers("        ", None),
        "    }",
    ]
    for pattern, cache in CACHE_RULES:
        if pattern.endswith("/*"):
            out += ["", f"    location {pattern[:-1]} {{"]
        else:
            out += ["", f"    location = {pattern} {{"]
        out += [*_nginx_headers("        ", cache), "    }"]
    out += _nginx_feeds(config)
    out += ["", "    # Read by other hosts (Netlify, Cloudflare Pages); not pages of the site."]
    for path in HOST_FILES:
        out += [f"    location = {path} {{", "        return 404;", "    }"]
    out += [
        "",
        "    # This file itself ships in dist/deploy/: keep it off the public site.",
        "    location /deploy/ {",
        "        return 404;",
        "    }",
        "",
        "    location = /404.html {",
        "        internal;",
        *_nginx_headers("        ", None),
        "    }",
        "",
        "    # The consent collector (python build.py collector --port 8001).",
        "    location /api/ {",
        "        proxy_pass http://127.0.0.1:8001;",
        "        proxy_set_header Host $host;",
        "        proxy_set_header X-Real-IP $remote_addr;",
        "        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "        proxy_set_header X-Forwarded-Proto $scheme;",
        "        client_max_body_size 8k;  # the collector answers 413 itself above 4 KiB",
        "        client_body_timeout 10s;  # as the collector's --read-timeout",
        "        proxy_read_timeout 15s;  # a commit waits at most 5 s for its turn, then 503",
        "        access_log off;  # it would keep the raw client IPs the collector never stores",
        "    }",
        "}",
    ]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    from pathlib import Path

    from policysite.content.config import load_config

    print(nginx_conf(load_config(Path("content"))), end="")
