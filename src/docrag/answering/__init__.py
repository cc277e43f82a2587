"""Answers built from retrieved passages, with verifiable citations."""
