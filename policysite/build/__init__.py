"""The build: load → check → render → write, and the machinery that makes it fast.

`pipeline.build()` reads as the stages; `check` is what `check` and every build enforce;
`output` swaps a finished dist/ in; `manifest`, `incremental`, `fingerprints`, `parallel` and
`warmup` skip or share work without changing a byte of the output (docs/fast-builds.md).

May import: render, content, shared.
"""
