"""segscore: batch customer segmentation — RFM features, quantile scores, named segments,
value tiers, lifecycle stages and behavioural clusters from Parquet transactions."""

__version__ = "0.1.0"

from segscore.config import RunConfig, load_config  # noqa: E402
from segscore.errors import ConfigError, InputError, SegscoreError  # noqa: E402
from segscore.pipeline import RunResult, run  # noqa: E402

__all__ = ["ConfigError", "InputError", "RunConfig", "RunResult", "SegscoreError", "__version__",
           "load_config", "run"]
