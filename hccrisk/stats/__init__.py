"""Every statistic the papers report, each checked against its R reference (see docs/statistics.md).

Functions return small frozen dataclasses (``hccrisk.stats._result.Result``) that unpack like tuples.
"""

from hccrisk.stats._result import Result
from hccrisk.stats.agreement import *  # noqa: F401,F403
from hccrisk.stats.calibration import *  # noqa: F401,F403
from hccrisk.stats.competing import *  # noqa: F401,F403
from hccrisk.stats.cox_models import *  # noqa: F401,F403
from hccrisk.stats.cutoff import *  # noqa: F401,F403
from hccrisk.stats.decision import *  # noqa: F401,F403
from hccrisk.stats.reclassification import *  # noqa: F401,F403
from hccrisk.stats.regression import *  # noqa: F401,F403
from hccrisk.stats.roc import *  # noqa: F401,F403
from hccrisk.stats.survival import *  # noqa: F401,F403
from hccrisk.stats.survival_accuracy import *  # noqa: F401,F403
from hccrisk.stats.tables import *  # noqa: F401,F403
