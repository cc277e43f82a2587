"""Text primitives every floor above may use: sentences, terms (BM25), tokens, prompt-safe text."""
