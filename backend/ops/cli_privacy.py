"""`flask --app wsgi wx keys rotate` and `wx retention run`: personal data at rest, by hand.

Their lines are in the machine's language, as `wx doctor`'s (backend/i18n/cli_zh_cn.py).
"""

from __future__ import annotations

import click
from flask.cli import AppGroup

from backend import i18n
from backend.ops.doctor import Text


def _echo(template: str, **params) -> None:
    click.echo(Text(template, **params).say(i18n.language_of_environment()))


keys = AppGroup("keys", help="The data keys that seal personal data at rest (DATA_KEY, DATA_KEYS_OLD).")
retention = AppGroup("retention", help="Purge what the retention settings no longer allow to keep.")


@keys.command("rotate")
def rotate_keys() -> None:
    """Seal every sealed value and write every look-up hash again under the current DATA_KEY.

    In batches of 1,000 rows; a row already under the current key is left alone, so running it
    again (or after an interruption) is safe. Afterwards DATA_KEYS_OLD may be emptied.
    """
    from backend.ops.key_rotation import rotate
    from backend.users.personal import data_keys

    for table, counts in rotate(data_keys()).items():
        _echo(
            "{table}: {rows} rows read, {resealed} values sealed again, {rehashed} hashes written again",
            table=table,
            rows=counts.rows,
            resealed=counts.resealed,
            rehashed=counts.rehashed,
        )
    _echo("every sealed value and look-up hash is under the current DATA_KEY: DATA_KEYS_OLD may now be emptied")


@retention.command("run")
def run_retention() -> None:
    """Purge now, in batches of 1,000 rows, what the retention in force no longer keeps (as the
    worker does every RETENTION_INTERVAL)."""
    from backend.ops.retention import purge

    for kind, rows in purge().items():
        _echo("{kind}: {rows} rows purged", kind=kind, rows=rows)
