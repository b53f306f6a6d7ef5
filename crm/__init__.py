"""Customer records: dealers, customers, households, vehicles' owners, consents, contacts and
contact pressure, service history and its import, recalls, recommendations, software options and
offers, each with its store. Alerts come in from `rules` through the core's alert table."""
