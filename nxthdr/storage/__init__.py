"""Embedded storage: the ClickHouse tables and views of the platform in chdb, in one data directory."""
