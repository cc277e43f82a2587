"""Is an answer supported by its passages: features, the shipped detector, the LLM judge, training."""
