# SPDX-License-Identifier: MIT
"""mooncake: mcstore's stand-in for Mooncake's Python package, so that an
inference engine's Mooncake backend (from mooncake.store import
MooncakeDistributedStore) runs unchanged on mcstore. Installed by
python3-mcstore-mooncake, which conflicts with a real Mooncake.

It refuses to shadow a real Mooncake that is importable from another
directory of sys.path (ImportError says where), unless
MCSTORE_SHADOW_MOONCAKE=1 asks for it."""

import os as _os
import sys as _sys

_here = _os.path.dirname(_os.path.abspath(__file__))


def _real_mooncake():
    """The directory of another mooncake package that holds Mooncake's
    native modules (store*.so, engine*.so), or None."""
    for entry in _sys.path:
        d = _os.path.abspath(_os.path.join(entry or _os.getcwd(), "mooncake"))
        if d == _here or not _os.path.isdir(d):
            continue
        try:
            names = _os.listdir(d)
        except OSError:
            continue
        if any(n.endswith(".so") and n.split(".")[0] in ("store", "engine") for n in names):
            return d
    return None


if _os.environ.get("MCSTORE_SHADOW_MOONCAKE") != "1":
    _other = _real_mooncake()
    if _other:
        raise ImportError("a real Mooncake is installed at %s, and mcstore's compatibility package at %s "
                          "would shadow it: remove one of them, or set MCSTORE_SHADOW_MOONCAKE=1 to use "
                          "mcstore" % (_other, _here))

__all__ = ["store", "mooncake_config"]
