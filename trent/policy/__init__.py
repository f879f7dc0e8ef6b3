"""Policy documents: grammar checks and evaluation. No HTTP, no storage.

``grammar.check(document, kind)`` refuses a document IAM (or KMS, for key policies) would
refuse (``PolicyError`` with AWS's message); ``Policy.of(text)`` compiles a document once (cached
by its text) and ``Policy.evaluate(ctx)`` answers which statement denies or allows a
``RequestContext``; ``decide`` combines several policies into a ``Decision`` (IAM User Guide,
"Policy evaluation logic"). The KMS combination of key, identity and session policies is
``trent.authz.kms``.
"""

from trent.policy.evaluate import Decision, Policy, Reach, RequestContext, Result, decide
from trent.policy.grammar import PolicyError, PolicyKind, check

__all__ = [
    "Decision",
    "Policy",
    "PolicyError",
    "PolicyKind",
    "Reach",
    "RequestContext",
    "Result",
    "check",
    "decide",
]
