"""An RQ worker for tests/test_scaleout.py: `flask --app wsgi jobs worker` in a process of its
own, configured by its PARTNERMATCH_* environment.

With a file name as argument it stalls in its first chunk instead of encoding, after
writing that file, so that a test can kill it mid-chunk.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


def stall_in_encoding(marker: Path) -> None:
    from partnermatch.matching import embedder

    def stalled(self, texts, batch_size):
        marker.write_text(f"{len(texts)} texts")
        time.sleep(3600)

    embedder.Embedder._encode = stalled


if __name__ == "__main__":
    if len(sys.argv) > 1:
        stall_in_encoding(Path(sys.argv[1]))
    from flask.cli import main

    sys.argv = ["flask", "--app", "wsgi", "jobs", "worker"]
    main()
