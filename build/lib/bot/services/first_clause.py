"""A reply's first clause to the TTS on its own, so speech starts before the first sentence is complete.

Pipecat's TTS services gather an LLM's streamed text into sentences before
synthesising it; a reply like "Of course, and what time would you like?"
waits for its last token before the TTS hears a word of it. This aggregator
also lets a reply's *first* clause go at a clause boundary (a comma, colon,
semicolon or dash followed by more text), then gathers sentences as before,
so the rest of the reply is synthesised while the first clause is playing.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

from pipecat.utils.text.base_text_aggregator import Aggregation, TextType
from pipecat.utils.text.simple_text_aggregator import SimpleTextAggregator

# A clause boundary once the next word has begun (so "7,000" or a trailing comma does not split).
_CLAUSE_END = re.compile(r"([,:;]|\s[-\u2013\u2014])\s+\S")
MIN_CLAUSE_WORDS = 2  # "So," alone is not worth a synthesis of its own


class FirstClauseTextAggregator(SimpleTextAggregator):
    """Sentences, with each response's first clause released as soon as it is complete."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._opened = False  # something of this response has gone to the TTS

    async def aggregate(self, text: str) -> AsyncIterator[Aggregation]:
        async for aggregation in super().aggregate(text):
            self._opened = True
            yield aggregation
        if self._opened or self._aggregation_type != TextType.SENTENCE:
            return
        found = _CLAUSE_END.search(self._text)
        if found and len(self._text[: found.start()].split()) >= MIN_CLAUSE_WORDS:
            cut = found.end() - 1  # keep the next word's first character for the rest
            head, self._text = self._text[:cut].strip(), self._text[cut:]
            self._opened = True
            yield Aggregation(text=head, type=TextType.SENTENCE)

    async def flush(self) -> Aggregation | None:
        # The response is over (flush is called at its end even when nothing is left).
        self._opened = False
        return await super().flush()

    async def reset(self):
        await super().reset()
        self._opened = False

    async def handle_interruption(self):
        await super().handle_interruption()
        self._opened = False
