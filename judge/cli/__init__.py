"""The `judge` command: `judge up` (API and workers), `judge migrate`, `judge run` (one file
through the sandbox), `judge languages` (packages and self-tests)."""
