-- A reopened account shows the whole trading day. It reads the day's orders by creation time (and older history
-- page by page), so orders get an index on (account, created_at); and the day's win rate needs today's closing
-- fills and the winning ones among them, which no stored row carries: the account's row keeps both counts.

CREATE INDEX IF NOT EXISTS orders_account_created ON orders (account, created_at);
ALTER TABLE accounts ADD COLUMN day_closing_fills BIGINT;
ALTER TABLE accounts ADD COLUMN day_winning_fills BIGINT;
