"""A runbrief store on ClickHouse (embedded through chdb): the Collector exporter's tables for
raw telemetry, runbrief's own beside them, and the operations' DuckDB SQL transpiled by
SQLGlot. Needs the ``clickhouse`` extra; nothing here is imported unless a chdb store is used."""
