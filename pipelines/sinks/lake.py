"""The streaming pipeline's lake writer: the local lake's writer, whose failures say what
an operator must fix. A full disk (``ENOSPC``), a file-size limit (``EFBIG``) or a quota
(``EDQUOT``) is named with the folder it could not write, and every failed write is
counted in the state file (``lake_write_failures``). The rows stay buffered and their
messages unacknowledged (``BufferedWriter``), so nothing is lost when space returns."""

from __future__ import annotations

import errno

from variance.pipelines import progress
from variance.warehouse.local import LakeWriter

WRITE_FAILURES = "lake_write_failures"
_NO_SPACE = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}


class StreamingLakeWriter(LakeWriter):
    """Counts each table's rows in the progress counters once they are durable (not when
    appended, so the progress line never reports as written what a full disk refused)."""

    def _write_rows(self, table: str, rows: list[dict]) -> list[dict]:
        try:
            retry = super()._write_rows(table, rows)
        except OSError as exc:
            progress.add(WRITE_FAILURES)
            if exc.errno in _NO_SPACE:
                where = str(self.lake_dir / table)
                raise OSError(exc.errno, f"{errno.errorcode[exc.errno]}, {exc.strerror}, writing into", where) from exc
            raise
        except Exception:
            progress.add(WRITE_FAILURES)
            raise
        progress.add(table, len(rows) - len(retry))
        return retry
