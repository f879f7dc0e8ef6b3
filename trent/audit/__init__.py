"""The audit trail: one CloudTrail-shaped JSON record per request, durable before the reply.

``record.py`` builds a record from a finished call (blobs — plaintext, ciphertext, data keys —
never enter it); ``log.py`` appends records to ``DATA_DIR/audit/audit.log`` with group commit
(one write and one fsync for every record that arrived while the previous fsync ran) and
rotates the file by size, making each batch durable through a journal (``journal.py``) whose
``fdatasync`` the kernel runs (``aio.py``: Linux AIO or io_uring); ``chain.py`` links the
records into a hash chain with signed checkpoints and ``verify.py`` checks it; ``reader.py``
reads the files back for ``trent audit``.
"""

from trent.audit.log import AuditLog
from trent.audit.record import (
    build_identity_record,
    build_record,
    build_service_record,
    build_sign_in_record,
)

__all__ = [
    "AuditLog",
    "build_identity_record",
    "build_record",
    "build_service_record",
    "build_sign_in_record",
]
