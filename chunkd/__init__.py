"""chunkd: a dumb, durable store of immutable chunks on local disk."""
