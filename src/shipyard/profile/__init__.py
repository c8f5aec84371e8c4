"""Exploratory data analysis: what the data looks like before any model sees it.

``profile(frame, target=..., task=...)`` computes per-column statistics (kind,
missing share, distinct values, a :class:`Summary` and histogram of numbers,
frequent values of text, the IQR outlier share), the target's distribution,
the correlations between numeric columns, the share of rows an isolation
forest finds far out, how well each column alone predicts the target, and
**findings**: facts about the data that later stages act on, not only prose.

Each finding is a plain record (``Finding``: ``kind``, ``severity``,
``column``, ``message``, ``value``, and ``other_column`` for pairs). Kinds:

- ``constant`` / ``near_constant``: one value everywhere (or in > 99% of rows);
- ``high_missing``: more than half of a column is missing;
- ``duplicate_rows``: identical rows;
- ``identifier``: a near-unique integer or text column (not the entity or time);
- ``high_cardinality``: a text column with many distinct values;
- ``outliers``: more than 5% of a column's values beyond its 1.5 IQR fences;
- ``multivariate_outliers``: more than 1% of rows far out for an isolation forest;
- ``correlated``: two features with |Pearson r| > 0.95;
- ``leakage`` (an error): a feature that alone predicts the target almost perfectly;
- ``class_imbalance``, ``single_class``, ``class_count``: the target's classes;
- ``missing_target``: rows without a target, which are set aside.

Findings never stop anything here; the stages after decide. Columns that carry
nothing to learn from (``NOT_A_FEATURE``: identifiers, constants) are
``Profile.not_features()``; any kinds' columns are ``Profile.columns_flagged(*kinds)``.

``section(profile)`` turns a profile into a part of the run report.
"""

from shipyard.profile.correlation import Correlations
from shipyard.profile.findings import (
    CLASS_COUNT,
    CLASS_IMBALANCE,
    CONSTANT,
    CORRELATED,
    DOMINANT,
    DUPLICATE_ROWS,
    FINDING_KINDS,
    HIGH_CARDINALITY,
    HIGH_MISSING,
    IDENTIFIER,
    LEAKAGE,
    MISSING_TARGET,
    MULTIVARIATE_OUTLIERS,
    NEAR_CONSTANT,
    NOT_A_FEATURE,
    OUTLIERS,
    SEVERITIES,
    SINGLE_CLASS,
    Finding,
)
from shipyard.profile.profiler import Profile, profile
from shipyard.profile.section import section
from shipyard.profile.stats import ColumnProfile, Histogram, Summary, TargetProfile

__all__ = [
    "CLASS_COUNT", "CLASS_IMBALANCE", "CONSTANT", "CORRELATED", "DUPLICATE_ROWS",
    "DOMINANT", "FINDING_KINDS", "HIGH_CARDINALITY", "HIGH_MISSING", "IDENTIFIER", "LEAKAGE",
    "MISSING_TARGET", "MULTIVARIATE_OUTLIERS", "NEAR_CONSTANT", "NOT_A_FEATURE", "OUTLIERS",
    "SEVERITIES", "SINGLE_CLASS", "ColumnProfile", "Correlations", "Finding", "Histogram",
    "Profile", "Summary", "TargetProfile", "profile", "section",
]
