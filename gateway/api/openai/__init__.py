"""The OpenAI-compatible door under /v1/ (and Ollama's own /v1/ paths under /ollama/v1/):
`openai.OpenAI(base_url="http://corral/v1", api_key=TOKEN)` and the tools built on it work unchanged.
Each module here serves one of OpenAI's operations, in OpenAI's wire format and error shape, through
the same pipeline as every other door."""
