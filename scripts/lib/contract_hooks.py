"""Schemathesis hooks of scripts/contract (loaded with SCHEMATHESIS_HOOKS=contract_hooks).

An `Idempotency-Key` the server would accept is made unique per request, just before it is
sent: a key reused with another body is rightly refused (422 `idempotency_key_reused`), which
the positive-data check would take for a valid request refused. Keys the server refuses are
sent as drawn, so their refusal is still checked. Replays and reuse are covered by the
integration tests.
"""

import itertools
import re

import schemathesis

VALID_KEY = re.compile(r"^[!-~]{1,255}$")
SUFFIX_ROOM = 20
_counter = itertools.count()


@schemathesis.hook
def before_call(ctx, case, kwargs):
    headers = case.headers
    if not headers:
        return
    for name in list(headers):
        if name.lower() != "idempotency-key":
            continue
        key = headers[name]
        if isinstance(key, str) and VALID_KEY.match(key):
            headers[name] = f"{key[: 255 - SUFFIX_ROOM]}-{next(_counter)}"
