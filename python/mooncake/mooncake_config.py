# SPDX-License-Identifier: MIT
"""mooncake.mooncake_config on mcstore (see mcstore.config)."""

from mcstore.config import MooncakeConfig  # noqa: F401
