"""Credentials in URLs stay out of logs and written settings."""

from __future__ import annotations

import io
import logging

from mmalign.redact import RedactingFilter, redact_urls, redact_values


def test_user_info_of_urls_is_redacted():
    assert redact_urls("POST http://bob:s3cret@host:8000/v1/chat") == "POST http://***@host:8000/v1/chat"
    assert redact_urls("https://token@api.example.com/v1 and ftp://a:b@c/d") == "https://***@api.example.com/v1 and ftp://***@c/d"
    for plain in ("http://host:8000/v1", "mail me at bob@example.com", "http://host/path?q=a@b"):
        assert redact_urls(plain) == plain
    assert redact_values({"judge_base_url": "http://u:p@h/v1", "n": 3, "urls": ["http://u:p@h"]}) == {
        "judge_base_url": "http://***@h/v1", "n": 3, "urls": ["http://***@h"]}


def test_log_records_are_redacted_arguments_included():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("httpx-like")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning('HTTP Request: %s %s "%s"', "POST", "http://bob:s3cret@localhost:8000/v1/chat/completions", "200 OK")
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue() == 'HTTP Request: POST http://***@localhost:8000/v1/chat/completions "200 OK"\n'
