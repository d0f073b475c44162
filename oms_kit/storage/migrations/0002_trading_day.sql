-- The account's trading day, so that a restart keeps it: when the current day began (UTC instant of midnight at
-- the exchange) and the account's P&L base then (realized + unrealized - fees), which the daily loss limit
-- measures from. NULL until the first day is noted.

ALTER TABLE accounts ADD COLUMN day_began TIMESTAMPTZ;
ALTER TABLE accounts ADD COLUMN day_base DECIMAL(28, 8);
