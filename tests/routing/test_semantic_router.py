"""The semantic selector's ways to the default, with a small embedder of letters (no model)."""

import numpy as np

from switchyard.core.call import Call
from switchyard.core.config.selection import SemanticSelect
from switchyard.core.messages import validate_chat
from switchyard.routing.semantic_router import RETRY_SECONDS, SemanticSelector


class Letters:
    """Unit vectors of letter counts; ``fail`` raises, texts over 40 characters are too long."""

    name = "letters"

    def __init__(self):
        self.fail = False
        self.calls = 0

    async def embed(self, texts):
        self.calls += 1
        if self.fail:
            raise RuntimeError("embedder down")
        out = []
        for text in texts:
            if len(text) > 40:
                out.append(None)
                continue
            v = np.zeros(26, dtype=np.float32)
            for ch in text.lower():
                if ch.isalpha():
                    v[ord(ch) - 97] += 1
            out.append(v / (np.linalg.norm(v) or 1))
        return out

    async def aclose(self):
        pass


CONFIG = SemanticSelect(routes={"vowels": ["aeiou", "eau"], "consonants": ["bcdfg", "xyz"]}, threshold=0.5,
                        default="vowels")


def ask(text):
    return validate_chat({"model": "auto", "messages": [{"role": "user", "content": text}]})


async def test_the_nearest_route_or_the_default_and_why():
    selector = SemanticSelector(CONFIG, Letters())
    await selector.start()
    chosen = await selector.choose(ask("ai oe"), Call("a"))
    assert chosen.route == "vowels" and chosen.how == "semantic" and chosen.score > 0.85
    assert [a["route"] for a in chosen.alternatives] == ["vowels", "consonants"]
    chosen = await selector.choose(ask("zyx"), Call("b"))
    assert chosen.route == "consonants" and chosen.header().startswith("semantic; similarity=")
    low = await selector.choose(ask("hklmnp"), Call("c"))
    assert (low.route, low.reason) == ("vowels", "below_threshold") and low.header() == "default; reason=below_threshold"
    assert (await selector.choose(ask("a" * 41), Call("d"))).reason == "too_long_to_embed"
    assert (await selector.choose(validate_chat({"model": "auto", "messages": [
        {"role": "system", "content": "only a system turn"}]}), Call("e"))).reason == "no_user_text"
    selector.embedder.fail = True
    assert (await selector.choose(ask("aeiou"), Call("f"))).reason == "embedder_unavailable"
    await selector.aclose()


async def test_examples_that_failed_to_embed_are_tried_again_later():
    now = [1000.0]
    embedder = Letters()
    embedder.fail = True
    selector = SemanticSelector(CONFIG, embedder, clock=lambda: now[0])
    await selector.start()
    assert (await selector.choose(ask("aeiou"), Call("a"))).reason == "examples_unavailable"
    embedder.fail = False
    calls = embedder.calls
    assert (await selector.choose(ask("aeiou"), Call("b"))).reason == "examples_unavailable"  # not yet again
    assert embedder.calls == calls
    now[0] += RETRY_SECONDS
    assert (await selector.choose(ask("aeiou"), Call("c"))).route == "vowels"
    assert embedder.calls > calls
    await selector.aclose()
