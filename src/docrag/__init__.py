"""DocRAG: answers from your documents, every sentence cited."""

__version__ = "0.1.0"
