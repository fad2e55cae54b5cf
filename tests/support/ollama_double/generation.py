"""The double answering: chat and generate, streamed as NDJSON or in one object, with the faults a
test asks for (a cut, an error line, a malformed line, a hold, delays) and Ollama's final counters."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from tests.support.ollama_double import answers
from tests.support.ollama_double.models import DoubleModel


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class ClientGone(Exception):
    pass


class Generation:
    """Mixed into the double's request handler (it brings _send_json, _model_or_error, the stream
    writers and `double`)."""

    def _loaded(self, body: dict, model: DoubleModel, key: str, empty) -> None:
        """A request with nothing to answer loads the model, or with keep_alive 0 unloads it:
        one object, whatever `stream` says."""
        unload = body.get("keep_alive") in (0, "0", "0s", 0.0)
        self.double.loaded_calls.append("unload" if unload else "load")
        self._send_json(
            200,
            {
                "model": model.name,
                "created_at": now(),
                key: empty,
                "done_reason": "unload" if unload else "load",
                "done": True,
            },
        )

    def _final_fields(self, prompt_count: int, eval_count: int, started: float) -> dict:
        total = int((time.monotonic() - started) * 1e9) + 1
        fields = {"done": True, "done_reason": "stop", "total_duration": total}
        if not self.double.omit_counters:
            fields.update(
                {
                    "load_duration": 1_000,
                    "prompt_eval_count": prompt_count,
                    "prompt_eval_duration": 10_000,
                    "eval_count": eval_count,
                    "eval_duration": total,
                }
            )
        return fields

    def _chat(self, body: dict) -> None:
        model = self._model_or_error(body)
        if model is None:
            return
        messages = body.get("messages") or []
        if not messages:
            self._loaded(body, model, "message", {"role": "assistant", "content": ""})
            return
        tool_call = (
            self.double.tool_call
            if body.get("tools") and answers.wants_tool_call(messages)
            else None
        )
        text = answers.text_answer(messages, self.double.reply)
        text = "" if tool_call else answers.formatted(body.get("format"), text)

        def message(content: str, **extra) -> dict:
            return {"role": "assistant", "content": content, **extra}

        self._answer(
            body, model, answers.count_prompt(messages), text, "message", message, tool_call
        )

    def _generate(self, body: dict) -> None:
        model = self._model_or_error(body)
        if model is None:
            return
        prompt = body.get("prompt", "")
        if not prompt and not body.get("images"):
            self._loaded(body, model, "response", "")
            return
        text = self.double.reply if self.double.reply is not None else f"You said: {prompt}"
        text = answers.formatted(body.get("format"), text)
        prompt_count = len(answers.tokens(prompt)) + len(answers.tokens(body.get("system") or ""))
        self._answer(body, model, prompt_count, text, "response", lambda content: content, None)

    def _thought(self, body: dict, key: str, model: DoubleModel):
        """With `think` set, what a thinking model thinks first: (its tokens, a chunk of one)."""
        if not body.get("think"):
            return [], None
        thought = answers.tokens(self.double.thinking)

        def chunk(piece: str) -> dict:
            if key == "message":
                body_part = {"role": "assistant", "content": "", "thinking": piece}
                return {"model": model.name, "created_at": now(), key: body_part, "done": False}
            return {
                "model": model.name,
                "created_at": now(),
                key: "",
                "thinking": piece,
                "done": False,
            }

        return thought, chunk

    def _answer(self, body, model, prompt_count, text, key, wrap, tool_call) -> None:
        double = self.double
        started = time.monotonic()
        tokens = answers.tokens(text)
        thought, thought_chunk = self._thought(body, key, model)
        if double.first_token_delay:
            time.sleep(double.first_token_delay)
        if body.get("stream", True) is False:
            final = {"model": model.name, "created_at": now(), key: wrap(text)}
            if tool_call and key == "message":
                final[key] = {"role": "assistant", "content": "", "tool_calls": [tool_call]}
            if thought and key == "message":
                final[key]["thinking"] = "".join(thought)
            elif thought:
                final["thinking"] = "".join(thought)
            final.update(
                self._final_fields(prompt_count, max(len(tokens), 1) + len(thought), started)
            )
            self._send_json(200, final)
            return
        self._start_stream()
        try:
            for piece in thought:
                self._write_line(thought_chunk(piece))
            for index, token in enumerate(tokens):
                if double.cut_after is not None and index >= double.cut_after:
                    self.close_connection = True
                    self.wfile.flush()
                    self.connection.shutdown(2)
                    return
                if double.error_after is not None and index >= double.error_after:
                    self._write_line({"error": "an error was encountered while running the model"})
                    self._end_stream()
                    return
                if double.malformed_after is not None and index >= double.malformed_after:
                    self._write_chunk(b"{not json\n")
                    self._end_stream()
                    return
                if double.hold_after is not None and index == double.hold_after:
                    double.release.wait(timeout=30)
                if index and double.chunk_delay:
                    time.sleep(double.chunk_delay)
                self._write_line(
                    {"model": model.name, "created_at": now(), key: wrap(token), "done": False}
                )
            if tool_call and key == "message":
                self._write_line(
                    {
                        "model": model.name,
                        "created_at": now(),
                        "message": {"role": "assistant", "content": "", "tool_calls": [tool_call]},
                        "done": False,
                    }
                )
            final = {"model": model.name, "created_at": now(), key: wrap("")}
            final.update(
                self._final_fields(prompt_count, max(len(tokens), 1) + len(thought), started)
            )
            self._write_line(final)
            self._end_stream()
            double.completed_streams += 1
        except ClientGone:
            double.disconnects += 1
            self.close_connection = True
