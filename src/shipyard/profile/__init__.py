"""Exploratory data analysis: what the data looks like before any model sees it.

``profile(frame, target=..., task=...)`` computes per-column statistics (kind,
missing share, distinct values, numeric summaries, frequent text values), the
target's distribution, and **findings**: facts about the data that later
stages act on, not only prose. Each finding has a ``kind`` (see the
``FINDING_KINDS``), a severity (``info``, ``warning``, ``error``), the column
it concerns and, where one applies, a ``value`` (a share, a count, a ratio):

- ``constant`` / ``near_constant``: one value everywhere (or in > 99% of rows);
- ``high_missing``: more than half of a column is missing;
- ``duplicate_rows``: identical rows;
- ``identifier``: a near-unique integer or text column (not the entity or time);
- ``high_cardinality``: a text column with many distinct values;
- ``class_imbalance``, ``single_class``, ``class_count``: the target's classes;
- ``missing_target``: rows without a target, which are set aside.

``section(profile)`` turns a profile into a part of the run report.
"""

from shipyard.profile.findings import (
    CLASS_COUNT,
    CLASS_IMBALANCE,
    CONSTANT,
    DUPLICATE_ROWS,
    FINDING_KINDS,
    HIGH_CARDINALITY,
    HIGH_MISSING,
    IDENTIFIER,
    MISSING_TARGET,
    NEAR_CONSTANT,
    SEVERITIES,
    SINGLE_CLASS,
    Finding,
)
from shipyard.profile.profiler import Profile, profile
from shipyard.profile.section import section
from shipyard.profile.stats import ColumnProfile, TargetProfile

__all__ = [
    "CLASS_COUNT", "CLASS_IMBALANCE", "CONSTANT", "DUPLICATE_ROWS", "FINDING_KINDS",
    "HIGH_CARDINALITY", "HIGH_MISSING", "IDENTIFIER", "MISSING_TARGET", "NEAR_CONSTANT",
    "SEVERITIES", "SINGLE_CLASS", "ColumnProfile", "Finding", "Profile", "TargetProfile",
    "profile", "section",
]
