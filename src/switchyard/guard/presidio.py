"""Presidio as a guard detector (``plugin: presidio``): Microsoft's analyzer, optional.

::

    guard:
      detectors:
        - name: presidio
          plugin: presidio
          options:
            language: en                 # default en
            entities: [PERSON, US_DRIVER_LICENSE, MEDICAL_LICENSE]   # default: every entity it knows
            score_threshold: 0.5         # default 0.5
            nlp: none                    # none (default): pattern recognizers only, no model;
            model: en_core_web_lg        # spacy: this installed spaCy model (names, places)

It needs ``pip install "switchyard[presidio]"`` (``presidio-analyzer``); with ``nlp:
spacy`` the model's own package installed beforehand (it is never downloaded at run
time: a missing one is a config error). Findings are reported under the entity type,
lower-cased (``person``, ``us_driver_license``): a policy's ``actions`` can name them.
The analyzer runs on a worker thread, under the policy's timeout. Its email recognizer's
public-suffix list is the snapshot ``tldextract`` ships (``TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS``
is set empty unless set already): nothing is fetched.

Checked by hand against presidio-analyzer 2.2.366 (spaCy 3.8, no model): not in the test
suite, whose install it would more than double.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from typing import Any

from switchyard.core.config import ConfigError

WHERE = "guard.detectors"


class PresidioDetector:
    """See the module docstring."""

    def __init__(self, options: dict[str, Any]) -> None:
        # Presidio's email recognizer asks tldextract, which would fetch the public suffix list at
        # run time: with no URLs it reads the snapshot it ships (unless the operator set otherwise).
        os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
        try:
            from presidio_analyzer import AnalyzerEngine
            from presidio_analyzer.nlp_engine import NoOpNlpEngine, SpacyNlpEngine
        except ImportError:
            raise ConfigError([(WHERE, "the presidio detector needs presidio-analyzer: "
                                       "pip install 'switchyard[presidio]'")]) from None
        self.language = str(options.get("language", "en"))
        entities = options.get("entities")
        self.entities = list(entities) if entities else None
        self.threshold = float(options.get("score_threshold", 0.5))
        nlp = options.get("nlp", "none")
        if nlp == "none":
            engine: Any = NoOpNlpEngine(models=[{"lang_code": self.language, "model_name": "none"}])
        elif nlp == "spacy":
            model = str(options.get("model", "en_core_web_lg"))
            import spacy.util

            if not spacy.util.is_package(model):
                raise ConfigError([(WHERE, f"the spaCy model {model!r} is not installed (it is never downloaded "
                                           f"at run time): pip install it first")])
            engine = SpacyNlpEngine(models=[{"lang_code": self.language, "model_name": model}])
        else:
            raise ConfigError([(WHERE, f"presidio option nlp must be none or spacy, not {nlp!r}")])
        if not engine.is_loaded():
            engine.load()
        self.analyzer = AnalyzerEngine(nlp_engine=engine, supported_languages=[self.language])

    async def detect(self, texts: Sequence[str]) -> list[list[tuple[int, int, str]]]:
        return await asyncio.to_thread(self._detect, texts)

    def _detect(self, texts: Sequence[str]) -> list[list[tuple[int, int, str]]]:
        out = []
        for text in texts:
            results = self.analyzer.analyze(text=text, language=self.language, entities=self.entities,
                                            score_threshold=self.threshold)
            out.append(sorted((r.start, r.end, r.entity_type.lower()) for r in results))
        return out
