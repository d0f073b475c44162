-- Order programs (oms_kit.programs): brackets, cover orders, trailing stops and icebergs, kept so that a restart
-- keeps the active ones following their orders. One row per program, its current state; what was asked for
-- (spec) and where it stands (state: its orders' ids, the price its legs were set from, the best price a trailing
-- stop has seen) are JSON text.

CREATE TABLE IF NOT EXISTS programs (
    program_id TEXT NOT NULL,
    account    TEXT NOT NULL,
    kind       TEXT NOT NULL,
    symbol     TEXT NOT NULL,
    status     TEXT NOT NULL,
    spec       TEXT NOT NULL,
    state      TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    reason     TEXT,
    PRIMARY KEY (account, program_id)
);
CREATE INDEX IF NOT EXISTS programs_account_status ON programs (account, status);
