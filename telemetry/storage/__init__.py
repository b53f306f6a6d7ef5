"""PostgreSQL storage: connections, migrations, samples, dead letters and the business records."""
