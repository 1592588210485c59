# SPDX-License-Identifier: MIT
"""Configuration as Mooncake's wheel reads it (mooncake.mooncake_config):
MOONCAKE_CONFIG_PATH, a JSON file, wins; else MOONCAKE_MASTER and the other
MOONCAKE_* variables. Also the size strings both of Mooncake's parsers take
("16MB", "1.5 G", 1073741824)."""

import json
import os
from dataclasses import dataclass

DEFAULT_GLOBAL_SEGMENT_SIZE = 3355443200  # 3.125 GiB, as the wheel's default
DEFAULT_LOCAL_BUFFER_SIZE = 1073741824    # 1 GiB

_UNITS = (("kb", 1 << 10), ("mb", 1 << 20), ("gb", 1 << 30), ("tb", 1 << 40),
          ("k", 1 << 10), ("m", 1 << 20), ("g", 1 << 30), ("t", 1 << 40), ("b", 1))


def parse_size(value):
    """Bytes of a size: an int, or a string of a number with an optional
    binary unit (K/KB, M/MB, G/GB, T/TB, B; any case, spaces allowed), or
    "infinite". ValueError otherwise (negative, "MiB", "50%")."""
    if isinstance(value, bool):
        raise ValueError("a size is a number, not %r" % (value,))
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a size cannot be negative: %d" % value)
        return value
    if isinstance(value, float):
        value = repr(value)
    s = str(value).strip().lower()
    if not s:
        raise ValueError("an empty size")
    if s == "infinite":
        return (1 << 64) - 1
    mult = 1
    for unit, m in _UNITS:
        if s.endswith(unit):
            s, mult = s[: -len(unit)].strip(), m
            break
    try:
        n = float(s)
    except ValueError:
        raise ValueError("not a size: %r (a number with K, M, G, T or B)" % (value,)) from None
    if n < 0 or n != n:
        raise ValueError("a size cannot be negative: %r" % (value,))
    return int(n * mult)


def parse_bool(value, default=None):
    if isinstance(value, (bool, int, float)):
        return bool(value)
    s = str(value).strip().lower()
    if s in ("1", "true", "yes", "on", "enable"):
        return True
    if s in ("0", "false", "no", "off", "disable"):
        return False
    if default is not None:
        return default
    raise ValueError("not a boolean: %r" % (value,))


@dataclass
class MooncakeConfig:
    """The configuration of a store, as mooncake.mooncake_config has it."""

    local_hostname: str
    metadata_server: str
    master_server_address: str
    global_segment_size: int = DEFAULT_GLOBAL_SEGMENT_SIZE
    local_buffer_size: int = DEFAULT_LOCAL_BUFFER_SIZE
    protocol: str = "tcp"
    device_name: str = ""
    enable_ssd_offload: bool = False
    ssd_offload_path: str = ""
    tenant_id: str = "default"
    enable_client_http_server: bool = False
    client_http_port: int = 9300

    def __post_init__(self):
        self.global_segment_size = parse_size(self.global_segment_size)
        self.local_buffer_size = parse_size(self.local_buffer_size)
        self.protocol = str(self.protocol).strip().lower()
        self.enable_ssd_offload = parse_bool(self.enable_ssd_offload)
        self.enable_client_http_server = parse_bool(self.enable_client_http_server)
        self.client_http_port = int(self.client_http_port)
        for name in ("local_hostname", "metadata_server", "master_server_address", "protocol"):
            if not getattr(self, name):
                raise ValueError("%s must not be empty" % name)
        # HOST:PORT, or etcd://HOST:PORT;... (HA masters): mcstored's rules
        from mcstore import _core
        why = _core.master_addr_why(str(self.master_server_address))
        if why is not None:
            raise ValueError("master_server_address %r: %s" % (self.master_server_address, why))

    @staticmethod
    def from_file(path):
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
        if not isinstance(raw, dict):
            raise ValueError("%s: a JSON object expected" % path)
        for name in ("local_hostname", "metadata_server", "master_server_address"):
            if name not in raw:
                raise ValueError("%s: %s is missing" % (path, name))
        known = set(MooncakeConfig.__dataclass_fields__)
        return MooncakeConfig(**{k: v for k, v in raw.items() if k in known})

    @staticmethod
    def load_from_env():
        path = os.environ.get("MOONCAKE_CONFIG_PATH")
        if path:
            return MooncakeConfig.from_file(path)
        master = os.environ.get("MOONCAKE_MASTER")
        if not master:
            raise ValueError("neither MOONCAKE_CONFIG_PATH nor MOONCAKE_MASTER is set")
        env = os.environ.get
        return MooncakeConfig(
            local_hostname=env("MOONCAKE_LOCAL_HOSTNAME", "localhost"),
            metadata_server=env("MOONCAKE_TE_META_DATA_SERVER", "P2PHANDSHAKE"),
            master_server_address=master,
            global_segment_size=env("MOONCAKE_GLOBAL_SEGMENT_SIZE", DEFAULT_GLOBAL_SEGMENT_SIZE),
            local_buffer_size=env("MOONCAKE_LOCAL_BUFFER_SIZE", DEFAULT_LOCAL_BUFFER_SIZE),
            protocol=env("MOONCAKE_PROTOCOL", "tcp"),
            device_name=env("MOONCAKE_DEVICE", ""),
            enable_ssd_offload=env("MOONCAKE_OFFLOAD_ENABLED", "false"),
            ssd_offload_path=env("MOONCAKE_OFFLOAD_FILE_STORAGE_PATH", ""),
            tenant_id=env("MOONCAKE_TENANT_ID", "default"),
            enable_client_http_server=env("MOONCAKE_ENABLE_CLIENT_HTTP_SERVER", "false"),
            client_http_port=env("MOONCAKE_CLIENT_HTTP_PORT", 9300),
        )

    def setup_dict(self):
        """The dict form of MooncakeDistributedStore.setup for this config."""
        return {
            "local_hostname": self.local_hostname,
            "metadata_server": self.metadata_server,
            "global_segment_size": str(self.global_segment_size),
            "local_buffer_size": str(self.local_buffer_size),
            "protocol": self.protocol,
            "rdma_devices": self.device_name,
            "master_server_addr": self.master_server_address,
        }
