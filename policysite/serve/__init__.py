"""`serve`: the editors' live preview (docs/serve.md). The build with drafts, one tornado
server for the site, livereload and the collector, and a watcher that rebuilds on each save.

`preview` holds the preview's state (options, last build, problems), `handlers` is the HTTP
side, `watch` the file watcher, `server` binds and runs them.

May import: build, render, content, collector.http, collector.core, shared.
"""
