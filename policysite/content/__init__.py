"""Load and validate: site.toml, the Markdown sources and their front matter, versions.lock.

The build's first stage (docs/ARCHITECTURE.md). Everything here turns files into the frozen
model of policysite.model, or into Problems that name the file, the line and what to do.
`new-version` lives here too: it writes sources, it renders nothing.

May import: shared.
"""
