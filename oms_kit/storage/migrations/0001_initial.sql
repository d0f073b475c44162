-- The first schema of oms_kit. Shared by DuckDB and PostgreSQL: only types and statements both understand.
-- Prices and money are exact decimals; timestamps are UTC (TIMESTAMPTZ); violations and details are JSON text.

CREATE TABLE IF NOT EXISTS orders (
    order_id        TEXT PRIMARY KEY,
    client_order_id TEXT NOT NULL,
    account         TEXT NOT NULL,
    symbol          TEXT NOT NULL,
    side            TEXT NOT NULL,
    order_type      TEXT NOT NULL,
    product         TEXT NOT NULL,
    validity        TEXT NOT NULL,
    quantity        BIGINT NOT NULL,
    price           DECIMAL(28, 8),
    trigger_price   DECIMAL(28, 8),
    filled_quantity BIGINT NOT NULL,
    average_price   DECIMAL(28, 8),
    status          TEXT NOT NULL,
    triggered       BOOLEAN NOT NULL,
    violations      TEXT NOT NULL,
    reason          TEXT,
    tag             TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    sequence        BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_account_status ON orders (account, status);

-- The audit trail: one row per state transition of an order.
CREATE TABLE IF NOT EXISTS order_events (
    event_id    TEXT PRIMARY KEY,
    order_id    TEXT NOT NULL,
    account     TEXT NOT NULL,
    sequence    BIGINT NOT NULL,
    ts          TIMESTAMPTZ NOT NULL,
    event_type  TEXT NOT NULL,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    detail      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS order_events_order ON order_events (order_id);

CREATE TABLE IF NOT EXISTS trades (
    trade_id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL,
    account  TEXT NOT NULL,
    symbol   TEXT NOT NULL,
    product  TEXT NOT NULL,
    side     TEXT NOT NULL,
    quantity BIGINT NOT NULL,
    price    DECIMAL(28, 8) NOT NULL,
    fees     DECIMAL(28, 8) NOT NULL,
    ts       TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS trades_account_ts ON trades (account, ts);

CREATE TABLE IF NOT EXISTS positions (
    account         TEXT NOT NULL,
    symbol          TEXT NOT NULL,
    product         TEXT NOT NULL,
    quantity        BIGINT NOT NULL,
    average_price   DECIMAL(28, 8) NOT NULL,
    realized_pnl    DECIMAL(28, 8) NOT NULL,
    fees            DECIMAL(28, 8) NOT NULL,
    last_price      DECIMAL(28, 8),
    bought_quantity BIGINT NOT NULL,
    sold_quantity   BIGINT NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (account, symbol, product)
);

CREATE TABLE IF NOT EXISTS accounts (
    account    TEXT PRIMARY KEY,
    cash       DECIMAL(28, 8) NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS risk_alerts (
    alert_id    TEXT PRIMARY KEY,
    account     TEXT NOT NULL,
    ts          TIMESTAMPTZ NOT NULL,
    level       TEXT NOT NULL,
    limit_name  TEXT NOT NULL,
    symbol      TEXT,
    value       DECIMAL(28, 8),
    limit_value DECIMAL(28, 8),
    message     TEXT NOT NULL,
    cleared_at  TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS risk_alerts_account_ts ON risk_alerts (account, ts);

-- One row per pre-trade decision of a real order (dry runs through validate() are not recorded).
CREATE TABLE IF NOT EXISTS risk_decisions (
    decision_id TEXT PRIMARY KEY,
    account     TEXT NOT NULL,
    order_id    TEXT NOT NULL,
    ts          TIMESTAMPTZ NOT NULL,
    accepted    BOOLEAN NOT NULL,
    violations  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS risk_decisions_account_ts ON risk_decisions (account, ts);

-- The current trading state per account (the kill switch survives a restart) and its history.
CREATE TABLE IF NOT EXISTS trading_state (
    account    TEXT PRIMARY KEY,
    state      TEXT NOT NULL,
    reason     TEXT NOT NULL,
    source     TEXT NOT NULL,
    changed_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS trading_state_changes (
    change_id  TEXT PRIMARY KEY,
    account    TEXT NOT NULL,
    ts         TIMESTAMPTZ NOT NULL,
    from_state TEXT,
    to_state   TEXT NOT NULL,
    reason     TEXT NOT NULL,
    source     TEXT NOT NULL
);
