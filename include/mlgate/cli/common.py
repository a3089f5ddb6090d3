"""What every `mlgate` command shares."""

from __future__ import annotations


def load_config_or_exit(args):
    """The config named by --config (or $MLGATE_CONFIG), or exit with what to fix."""
    from mlgate.config import ConfigError, load_config

    try:
        return load_config(args.config)
    except ConfigError as error:
        raise SystemExit(str(error)) from None
