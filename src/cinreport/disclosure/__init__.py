"""The single disclosure pass: what a build publishes, the store, and the attacker that checks it."""
