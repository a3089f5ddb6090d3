"""Labels as of a point in time. A pure Spark transform.

A label row (a chargeback) marks its event positive only from the moment it became known.
A run "as of" some instant may use only labels known strictly before that instant, and only
events old enough that their label, if any, has had the label maturity to arrive.

Datetimes passed in may be naive (read as UTC) or timezone-aware (any zone).
"""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mlgate.window import utc_instant

MATURE_COLUMN = "label_mature"


def attach_labels(
    events: DataFrame,
    labels: DataFrame,
    *,
    event_key: str,
    label_event_key: str,
    label_time_column: str,
    time_column: str,
    as_of: datetime,
    mature_until: datetime,
    label_name: str,
) -> DataFrame:
    """Add ``label_name`` (int 0/1) and ``label_mature`` (boolean) to every event row.

    - ``label_name`` is 1 when some label row points at the event (``label_event_key`` ==
      ``event_key``) with ``label_time_column < as_of``. Labels that became known at or after
      ``as_of`` do not count: the run must not see the future. Several label rows for one
      event count once; the result has exactly the rows of ``events``.
    - ``label_mature`` is true when the event time is ``<= mature_until`` (``as_of`` minus
      the label maturity: ``WindowSpec.mature_end``). Only mature rows may be used for
      training or evaluation: a younger event may still be a positive whose label has
      not been reported yet.

    Existing columns named ``label_name`` or ``label_mature`` are replaced.
    """
    as_of, mature_until = utc_instant(as_of), utc_instant(mature_until)
    known = (
        labels.where(F.col(label_time_column) < F.lit(as_of))
        .select(F.col(label_event_key).alias(event_key))
        .where(F.col(event_key).isNotNull())
        .distinct()
        .withColumn(label_name, F.lit(1))
    )
    labelled = events.drop(label_name, MATURE_COLUMN).join(known, on=event_key, how="left")
    return labelled.withColumns(
        {
            label_name: F.coalesce(F.col(label_name), F.lit(0)).cast("int"),
            MATURE_COLUMN: F.coalesce(F.col(time_column) <= F.lit(mature_until), F.lit(False)),
        }
    )
