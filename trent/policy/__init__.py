"""Policy documents: grammar checks and evaluation. No HTTP, no storage.

``grammar.check(document, kind)`` refuses a document IAM would refuse (``PolicyError`` with
AWS's ``MalformedPolicyDocument`` message); ``evaluate.Policy.parse`` turns a checked document
into statements once, and ``evaluate.decide`` answers allow / explicit deny / implicit deny for a
request context (IAM User Guide, "Policy evaluation logic"). Issue 10 extends the condition
operators and keys; the shapes here are the ones it builds on.
"""

from trent.policy.evaluate import Decision, Policy, RequestContext, decide
from trent.policy.grammar import PolicyError, PolicyKind, check

__all__ = ["Decision", "Policy", "PolicyError", "PolicyKind", "RequestContext", "check", "decide"]
