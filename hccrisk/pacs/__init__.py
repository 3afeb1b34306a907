"""PACS plumbing: DICOMweb and DIMSE clients behind one interface, a storage SCP, Orthanc's change
feed, retries with back-off, an on-disk outbox, and a local Orthanc for tests and trials.

    from hccrisk.pacs import connect
    pacs = connect("http://127.0.0.1:8042/dicom-web")      # or "ORTHANC@127.0.0.1:4242"
    pacs.store(files); pacs.retrieve(study_uid, out_dir)

See docs/pacs.md.
"""

from hccrisk.pacs.client import PacsClient, connect
from hccrisk.pacs.errors import PacsError
from hccrisk.pacs.outbox import Outbox, OutboxItem
from hccrisk.pacs.retry import NO_RETRY, RetryPolicy, with_retries

__all__ = ["NO_RETRY", "Outbox", "OutboxItem", "PacsClient", "PacsError", "RetryPolicy", "connect",
           "with_retries"]
