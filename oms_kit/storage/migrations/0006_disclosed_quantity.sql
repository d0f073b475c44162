-- Disclosed quantity: how much of an order the exchange shows at a time (NSE's DQ), 0 for all of it. Orders
-- stored before it showed all of themselves.

ALTER TABLE orders ADD COLUMN disclosed_quantity BIGINT DEFAULT 0;
