from tests.support.ollama_double.double import OllamaDouble


def main() -> None:
    """Run the double on its own: python -m tests.support.ollama_double --port 11434"""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=11434)
    parser.add_argument("--model", action="append", dest="models")
    parser.add_argument("--reply", help="answer this text instead of echoing the question")
    parser.add_argument("--chunk-delay", type=float, default=0.0, help="seconds between chunks")
    args = parser.parse_args()
    double = OllamaDouble(models=args.models, port=args.port)
    double.reply, double.chunk_delay = args.reply, args.chunk_delay
    print(
        f"Ollama double at {double.url} serving {', '.join(double.models)}: a stand-in that "
        "streams back what it is asked (not a model), for trying Corral without Ollama",
        flush=True,
    )
    double._server.serve_forever()


if __name__ == "__main__":
    main()
