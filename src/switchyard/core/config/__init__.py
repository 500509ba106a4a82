"""Strict, frozen configuration: one module per section, loaded by ``load_config``."""

from switchyard.core.config.budgets import Budget, BudgetsConfig, SpendConfig
from switchyard.core.config.egress import TLSConfig
from switchyard.core.config.loader import ConfigError, load_config, parse_config
from switchyard.core.config.logging import LoggingConfig
from switchyard.core.config.models import Connections, DeploymentConfig, ModelConfig, Price, Timeouts
from switchyard.core.config.root import Config
from switchyard.core.config.server import AuthConfig, ClientKey, ServerConfig
from switchyard.core.config.storage import RedisConfig, StorageConfig

__all__ = [
    "AuthConfig",
    "Budget",
    "BudgetsConfig",
    "ClientKey",
    "Config",
    "ConfigError",
    "Connections",
    "DeploymentConfig",
    "LoggingConfig",
    "ModelConfig",
    "Price",
    "RedisConfig",
    "ServerConfig",
    "SpendConfig",
    "StorageConfig",
    "TLSConfig",
    "Timeouts",
    "load_config",
    "parse_config",
]
