"""The assertion every error test makes: a 400 ClientError with AWS's exception name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError


def expect_error(call: Callable[..., Any], code: str, fragment: str, **kwargs: Any) -> str:
    """Call, require a 400 ClientError with ``code`` whose message contains ``fragment``;
    return the message."""
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    err = info.value.response
    assert err["Error"]["Code"] == code, err["Error"]
    assert fragment in err["Error"]["Message"], err["Error"]
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400, err["ResponseMetadata"]
    return str(err["Error"]["Message"])
