"""Method and preset descriptions as readable rich text, with their advice standing out.

A description may end with advice starting "Tip:" (the network's "run an affine stage first when
the images are far apart"); it goes on its own line, in bold, where a new user sees it. The rest
is plain text in the normal text colour (descriptions used to be grey on grey).
"""

from __future__ import annotations

import html

TIP = "Tip:"


def description_html(text: str) -> str:
    """``text`` as HTML: escaped, with a "Tip: ..." sentence on its own bold line."""
    body, found, tip = text.partition(TIP)
    escaped = html.escape(body.strip())
    if not found:
        return escaped
    return f"{escaped}<br><b>{TIP} {html.escape(tip.strip())}</b>"
