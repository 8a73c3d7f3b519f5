"""The commands: each parses its arguments, calls the library and prints."""


def describe(doc: str) -> str:
    """A module docstring's first line as plain ``--help`` text (no reStructuredText backticks)."""
    return doc.strip().splitlines()[0].replace("``", "")
