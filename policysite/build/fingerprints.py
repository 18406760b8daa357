"""Page fingerprints (docs/fast-builds.md): equal fingerprints, equal HTML.

`policysite.build.incremental` renders a page's template only when its fingerprint changed, so a
fingerprint must cover everything the template can see, and nothing that varies between
processes or runs. It is a digest of the page's whole context rather than of dependencies
declared by hand, which could be forgotten.
"""

from __future__ import annotations

import copyreg
import functools
import hashlib
import io
import pickle
import sys
from typing import Any

from policysite.build import manifest
from policysite.model import Site, SiteConfig, Source, Version
from policysite.render.feeds import Listed, listing_inputs
from policysite.render.theme import Theme


def fingerprint(theme: Theme, language: str, name: str, context: dict[str, Any]) -> str:
    """A digest of everything a page's template can see: equal digests, equal HTML.

    A pickle is a lossless, C-speed serialisation of the context (plain data, dates and
    frozen dataclasses), so equal pickles mean equal contexts; without its memo it is also
    the same for equal contexts built in different processes. Sources stand in by their file
    and its sha256 (everything else in them is read from those bytes), and the site's settings
    by their own digest: pickling them by value on every page cost more than the rest. The
    code salt covers what turns those bytes into a page: our code and the libraries.
    """
    return _digest((code_salt(), theme.digest, language, name, context), _REDUCERS)


def listing_key(theme: Theme, site: Site, listed: Listed) -> str:
    """A digest of everything the sitemap and the feeds are made from: equal keys, equal
    files (policysite.render.feeds.listing_inputs)."""
    return _digest(
        (code_salt(), theme.digest, site.config, listing_inputs(site, listed)), _REDUCERS
    )


def _digest(value: object, reducers: dict | None = None) -> str:
    """sha256 of `value` pickled by value (with `reducers` for the types they name)."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=5)
    pickler.fast = True  # no memo: by value only, so object sharing cannot change the bytes
    if reducers is not None:
        pickler.dispatch_table = reducers
    pickler.dump(value)
    return hashlib.sha256(buffer.getbuffer()).hexdigest()


@functools.cache
def code_salt() -> str:
    """Our code and the libraries under it, as they were when first asked (forked workers
    inherit the parent's answer)."""
    digest = hashlib.sha256(sys.version.encode())
    for path in manifest.code_files():
        digest.update(path.read_bytes())
    digest.update(manifest.libraries().encode())
    return digest.hexdigest()


def _reduce_source(source: Source) -> tuple:
    return (str, (f"source {source.path} {source.sha256}",))


def _reduce_version(version: Version) -> tuple:
    sources = tuple(version.sources.values())
    return (tuple, ((version.document, version.date, version.default_language, sources),))


_CONFIGS: dict[int, tuple[SiteConfig, str]] = {}


def _reduce_config(config: SiteConfig) -> tuple:
    found = _CONFIGS.get(id(config))
    if found is None or found[0] is not config:  # not a reused id
        found = (config, _digest(config))
        if len(_CONFIGS) > 16:
            _CONFIGS.clear()
        _CONFIGS[id(config)] = found
    return (str, (f"config {found[1]}",))


_REDUCERS = copyreg.dispatch_table.copy()
_REDUCERS.update({Source: _reduce_source, Version: _reduce_version, SiteConfig: _reduce_config})
