"""`py-hello`: the `hello` plugin in Python. It returns its input in upper case."""

import plugbox


def uppercase(text: str) -> str:
    """Upper-cases the request (Unicode-aware, like Rust's `to_uppercase`)."""
    return text.upper()


Handler = plugbox.plugin(uppercase, text=True)
