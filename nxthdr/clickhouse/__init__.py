"""ClickHouse storage of the three pipelines: the table SQL (clickhouse-tables/),
its rendering (tables), and the idempotent migration (`nxthdr clickhouse migrate`)."""
