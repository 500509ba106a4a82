"""OpenAI's Responses API over the gateway's chat pipeline: request translation
(``request``), the response object (``answer``), the stream's events (``events``),
stored responses (``store``; ``sql_store`` beside a SQL durable store)."""
