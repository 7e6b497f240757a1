"""What serves a function: the server, its guard and limits, ops routes, auth, problems."""
