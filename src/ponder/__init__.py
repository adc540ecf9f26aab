"""ponder: test-time scaling for language models."""
