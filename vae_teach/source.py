"""Show the package's real code in the book, so the text and the package never drift apart."""
from __future__ import annotations

import inspect


def show_source(obj) -> None:
    """Display the source of a function or class from ``vae_teach`` as a highlighted code block."""
    from IPython.display import Markdown, display

    code = inspect.getsource(obj).rstrip()
    where = f"{inspect.getmodule(obj).__name__}.{obj.__qualname__}"
    display(Markdown(f"`{where}`:\n\n```python\n{code}\n```"))
