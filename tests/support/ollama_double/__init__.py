"""A faithful Ollama double: a real HTTP server on loopback speaking Ollama's wire format.

NDJSON streaming with chunked transfer encoding (streaming is Ollama's default), the final chunk's
counters, `{"error": "..."}` bodies with Ollama's status codes, and knobs the tests turn: latency,
failures, mid-stream cuts, error lines and malformed lines.
"""

from tests.support.ollama_double.double import OllamaDouble
from tests.support.ollama_double.models import DoubleModel, Failure

__all__ = ["DoubleModel", "Failure", "OllamaDouble"]
