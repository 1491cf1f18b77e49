"""Zero-downtime blue/green schema rollouts for Django on PostgreSQL."""

__version__ = "0.1.0"
