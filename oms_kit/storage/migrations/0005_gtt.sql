-- GTTs (good till triggered, oms_kit.gtt): standing triggers on the last price, kept so that a restart keeps the
-- active ones. One row per GTT, its current state; the trigger values, the orders of its legs and the ids of the
-- orders it placed are JSON text.

CREATE TABLE IF NOT EXISTS gtts (
    gtt_id     TEXT NOT NULL,
    account    TEXT NOT NULL,
    symbol     TEXT NOT NULL,
    kind       TEXT NOT NULL,
    status     TEXT NOT NULL,
    triggers   TEXT NOT NULL,
    orders     TEXT NOT NULL,
    last_price DECIMAL(28, 8) NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    fired_leg  BIGINT,
    order_ids  TEXT NOT NULL,
    reason     TEXT,
    PRIMARY KEY (account, gtt_id)
);
CREATE INDEX IF NOT EXISTS gtts_account_status ON gtts (account, status);
