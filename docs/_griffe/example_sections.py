"""Griffe extension for the API reference: read the project's ``Example`` sections as examples.

transferkit's docstrings head their runnable example with a numpydoc-style ``Example`` heading
(singular). Griffe's numpy parser only knows ``Examples``, so without this extension the doctest
is rendered as prose and its output (``[0.76, 0.19, 0.05]``) is taken for a Markdown link, which
``mkdocs build --strict`` rejects. The source files stay as they are; only the text handed to the
parser is renamed.
"""

from __future__ import annotations

import re
from typing import Any

from griffe import Extension, Object

_EXAMPLE_HEADING = re.compile(r"^(\s*)Example\n(\s*)-{7}\s*$", re.MULTILINE)


class ExampleSections(Extension):
    """Rename a docstring's ``Example`` heading to ``Examples`` before it is parsed."""

    def on_object(self, *, obj: Object, **kwargs: Any) -> None:
        docstring = obj.docstring
        if docstring is not None and "Example" in docstring.value:
            docstring.value = _EXAMPLE_HEADING.sub(r"\1Examples\n\2--------", docstring.value)
