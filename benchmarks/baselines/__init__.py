"""What a data team would run instead of segscore (issue 5, part 1).

Every baseline computes the SPEC §2 features the same way segscore does, on the same data:

* ``as_of`` = end of the day (23:59:59.999999) of the latest transaction;
* ``recency_days`` = floor((as_of - last purchase with amount > 0) / 1 day);
* ``tenure_days`` = the same from the first purchase;
* ``frequency`` = purchases with amount > 0; the generated data has order *lines*
  (several rows per ``order_id``), so, as SPEC §2 says for inputs with an order id, it is the
  number of distinct orders with amount > 0 (``nunique`` / ``n_unique`` / ``COUNT(DISTINCT)``);
* ``monetary`` = net sum of all amounts, returns included;
* only customers with at least one purchase are scored.

Scores (quintiles, q = 5, ``r_score`` inverted so recent buyers score high):

* pandas: ``pd.qcut(x, 5, labels=False) + 1``. qcut raises when its edges are not unique
  (``frequency`` is heavily tied: most customers have 1-3 orders), and the usual user's
  fix is then ``pd.qcut(x.rank(method="first"), 5)`` - ties broken by row order. We use that
  fallback only for the metric whose edges are not unique, and record which one it was.
* polars: ``pl.col(x).qcut(5)`` (right-closed bins, like pandas and SPEC §3) with the same
  ``rank("ordinal")`` fallback when the breaks are not unique.
* DuckDB: ``NTILE(5) OVER (ORDER BY x)`` - equal-count tiles, ties split arbitrarily.

segscore gives equal values equal scores (SPEC §3), so agreement is 100 % only where the
baseline's rule coincides with it; ``agreement()`` reports the rate per score.

Clustering: 8 clusters on standardized features log1p(max(x, 0)) of recency_days,
frequency, monetary and tenure_days (plain) - segscore's default cluster features.
"""

from .common import agreement, feature_agreement  # noqa: F401

ENGINES = ("pandas", "polars", "duckdb")
