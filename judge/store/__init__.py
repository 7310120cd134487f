"""PostgreSQL, the source of truth: the submissions table and its migrations, the workers'
leases, retention of old submissions, and the statistics of GET /statistics."""
