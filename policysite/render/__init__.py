"""Render: the model in, bytes out. Markdown, the word diff, the theme's templates, feeds,
the sitemap, policy.json, deploy examples and the widget.

The build's second stage (docs/ARCHITECTURE.md). Pure functions of the site and the theme, so
pages can be rendered in any order, in parallel and again on a save. `urls` is the one place
that knows where pages live.

May import: content, shared.
"""
