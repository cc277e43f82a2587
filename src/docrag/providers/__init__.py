"""Model providers: embedders (and, later, rerankers and generators) behind small protocols."""
