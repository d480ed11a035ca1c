"""Background work as jobs in a durable queue (procrastinate, in Postgres), run in-process or by `assistant worker`."""
