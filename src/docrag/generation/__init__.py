"""Text generators (LLMs) behind one protocol: an OpenAI-compatible server, or llama.cpp."""
