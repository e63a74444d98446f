"""What every format's ``render`` returns, and its signature."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: the formats must not import the config at run time
    from alerter.notify.config import WebhookConfig


@dataclass(frozen=True)
class Rendered:
    """A request body and the headers it needs (``Content-Type`` at least)."""

    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


Renderer = Callable[[Mapping[str, Any], "WebhookConfig", Mapping[str, str]], Rendered]
