"""Identities: IAM users, roles, access keys and policies (``iam``), STS sessions (``sts``),
who signed a request (``credentials``) and who may call IAM/STS actions (``directory``).
No HTTP in here; ``trent.protocol.query`` speaks the wire protocol."""
