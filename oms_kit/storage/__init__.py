"""Storage: the Store protocol, its DuckDB and PostgreSQL implementations and the shared migrations."""
