"""How long the web console's key list takes with many keys (issue 12: "paging that stays fast
with 100,000 keys").

Makes a data directory with one key through the API, clones that key's rows in SQLite to reach
``--keys`` keys (server stopped; ids are fresh UUIDs), starts ``trent serve``, signs in to the
console and times the first page and a page from the middle (``?marker=``: the opaque marker
``ListKeys`` would give there), unfiltered and filtered over all keys (a description substring
every key matches; a key id prefix and a text no key matches, which read every key; a state no
key is in), ``--repeat`` times each; prints the medians in milliseconds. Each page also runs
DescribeKey, ListAliases and GetKeyRotationStatus for its 20 rows, each audited (fsync), so
on a loaded machine the figures vary by hundreds of milliseconds. Run by hand:

    .venv/bin/python bench/console_keys.py --keys 100000
"""

from __future__ import annotations

import argparse
import base64
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.console.pages import ConsoleClient
from tests.server import TrentServer

UUID = (
    "lower(substr(h,1,8)||'-'||substr(h,9,4)||'-4'||substr(h,14,3)||'-8'||substr(h,18,3)"
    "||'-'||substr(h,21,12))"
)


def clone_keys(database: Path, source: str, count: int) -> None:
    db = sqlite3.connect(database)
    key_cols = [row[1] for row in db.execute("PRAGMA table_info(keys)")]
    mat_cols = [row[1] for row in db.execute("PRAGMA table_info(materials)") if row[1] != "seq"]
    db.execute("CREATE TEMP TABLE ids (key_id TEXT PRIMARY KEY)")
    db.execute(
        f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < ?) "
        f"INSERT INTO ids SELECT {UUID} FROM (SELECT hex(randomblob(16)) AS h FROM n)",
        (count,),
    )
    keys_select = ", ".join("ids.key_id" if c == "key_id" else f"k.{c}" for c in key_cols)
    db.execute(
        f"INSERT INTO keys ({', '.join(key_cols)}) SELECT {keys_select} "
        "FROM ids, keys k WHERE k.key_id = ?",
        (source,),
    )
    mat_select = ", ".join("ids.key_id" if c == "key_id" else f"m.{c}" for c in mat_cols)
    db.execute(
        f"INSERT INTO materials ({', '.join(mat_cols)}) SELECT {mat_select} "
        "FROM ids, materials m WHERE m.key_id = ?",
        (source,),
    )
    db.commit()
    db.close()


def timed(client: ConsoleClient, path: str, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        reply = client.request("GET", path)
        samples.append(time.perf_counter() - start)
        assert reply.status == 200, reply.status
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = TrentServer(Path(tmp) / "data", workers=1).start()
        created = server.client().create_key(Description="bench key")
        source = created["KeyMetadata"]["KeyId"]
        server.stop()
        clone_keys(server.data_dir / "trent.db", source, args.keys - 1)
        server.start()
        try:
            client = ConsoleClient(server.endpoint)
            assert client.sign_in(*server.credentials()).status == 303
            db = sqlite3.connect(server.data_dir / "trent.db")
            (middle,) = db.execute(
                "SELECT key_id FROM keys ORDER BY key_id LIMIT 1 OFFSET ?", (args.keys // 2,)
            ).fetchone()
            (total,) = db.execute("SELECT count(*) FROM keys").fetchone()
            db.close()
            first = timed(client, "/console/keys", args.repeat)
            marker = base64.urlsafe_b64encode(f"trent-page:{middle}".encode()).decode()
            deep = timed(client, f"/console/keys?marker={quote(marker)}", args.repeat)
            print(f"keys: {total}  first page: {first:.0f} ms  middle page: {deep:.0f} ms")
            common = timed(client, "/console/keys?filter=bench", args.repeat)
            common_deep = timed(
                client, f"/console/keys?filter=bench&marker={quote(marker)}", args.repeat
            )
            prefix = timed(client, f"/console/keys?filter={middle[:8]}", args.repeat)
            none = timed(client, "/console/keys?filter=no-such-key", args.repeat)
            state = timed(client, "/console/keys?state=Disabled", args.repeat)
            print(
                f"filter 'bench' (all match): first page: {common:.0f} ms  "
                f"middle page: {common_deep:.0f} ms\n"
                f"filter key id prefix {middle[:8]}: {prefix:.0f} ms  "
                f"filter with no match: {none:.0f} ms\n"
                f"state Disabled (no such key): {state:.0f} ms"
            )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
