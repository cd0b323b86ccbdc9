"""Walking the customer listing as a client does: page after page, by the
``<url>; rel="next"`` Link header, until a page comes without one."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

_NEXT = re.compile(r'<([^>]*)>; rel="next"')


def next_url(link: str | None) -> str | None:
    """The URL of a ``rel="next"`` Link header, None without a header."""
    if link is None:
        return None
    match = _NEXT.fullmatch(link)
    assert match, f'a Link header that is not <url>; rel="next": {link!r}'
    return match.group(1)


def pages(get: Callable[[str], Any], url: str, max_pages: int = 1000) -> Iterator[Any]:
    """Each page (a 200 response) from ``get(url)`` on, following the Link headers (bounded).

    ``get`` is a requests session's or a Flask test client's ``get``.
    """
    for _ in range(max_pages):
        response = get(url)
        assert response.status_code == 200, response.text
        yield response
        url = next_url(response.headers.get("Link"))
        if url is None:
            return
    raise AssertionError(f"listing did not end within {max_pages} pages")


def listed_ids(get: Callable[[str], Any], url: str, max_pages: int = 1000) -> list[str]:
    """Every id the listing from ``url`` gives, in order (``get`` is a requests session's)."""
    return [customer["id"] for page in pages(get, url, max_pages) for customer in page.json()]
