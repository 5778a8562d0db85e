"""A workflow's static summary and details kept readable without the codec server.

The SDK encodes a summary or details given as text like any payload: through the data converter, so the
engine's codec encrypts it (security/codec.py) and the Temporal UI shows ciphertext unless it reaches the codec
server. Given a ready payload instead, the SDK's user-metadata encoding takes it as it is. What goes in clear
this way is built only from codes and catalogue labels — the award form, the ministry, the year, the route, a
ballot session's kind and meeting reference, a decision's number — never from a person's data
(domain/operator_view.py; docs/operations.md, "Stuck work at a glance").
"""

from __future__ import annotations

from typing import Any

from temporalio.converter import default


def readable_without_codec(text: str) -> Any:
    """`text` as a plain `json/plain` payload, for `static_summary` / `static_details` of start_workflow.

    Typed Any: start_workflow's parameters are typed as text, and it passes a payload through unencoded."""
    return default().payload_converter.to_payload(text)
