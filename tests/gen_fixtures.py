"""A small hand-made Visual Genome-format annotation set (and its images) for the data_gen tests."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from PIL import Image

WIDTH = 300


def obj(oid, name, x=10, w=20, attributes=None, synsets=None, plural_name=None):
    entry = {"object_id": oid, "x": x, "y": 10, "w": w, "h": 20, "names": [plural_name or name]}
    if synsets:
        entry["synsets"] = synsets
    if attributes:
        entry["attributes"] = attributes
    return entry


def rel(subject, predicate, obj_):
    return {"predicate": predicate, "subject": {"name": subject}, "object": {"name": obj_}}


# image id -> objects; boxes put the man on the left, the horse of image 1 in the centre and the
# horse of image 4 on the right (image width 300).
OBJECTS = {
    1: [obj(11, "man", x=0, w=60, attributes=["tall"], synsets=["man.n.01"]),
        obj(12, "horse", x=120, w=60, attributes=["brown"]), obj(13, "hat", attributes=["red"])],
    2: [obj(21, "man", synsets=["man.n.01"]), obj(22, "dog", attributes=["brown"]), obj(23, "frisbee")],
    3: [obj(31, "dog", plural_name="dogs"), obj(32, "cat", attributes=["white"])],
    4: [obj(41, "woman"), obj(42, "horse", x=250, w=40, attributes=["white"]), obj(43, "saddle")],
    5: [obj(51, "guy", synsets=["man.n.01"]), obj(52, "bicycle", attributes=["red"])],
    6: [],
    7: [obj(71, "tree")],
    8: [obj(81, "man", synsets=["man.n.01"]), obj(82, "bicycle"), obj(83, "helmet")],
    9: [obj(91, "dog"), obj(92, "cat"), obj(93, "bowl")],
    10: [obj(101, "zebra"), obj(102, "zebra")],
    11: [obj(111, "zebra"), obj(112, "tree")],
}
RELATIONS = {
    1: [rel("man", "riding", "horse"), rel("man", "wearing", "hat")],
    2: [rel("man", "throwing", "frisbee"), rel("dog", "catching", "frisbee")],
    4: [rel("woman", "riding", "horse")],
    5: [rel("guy", "riding", "bicycle")],
    8: [rel("man", "wearing", "helmet")],
}
QUESTIONS = {
    1: [("Is there a horse?", "Yes"), ("Is the man sitting?", "No.")],
    2: [("Is there a dog?", "yes"), ("Is it raining?", "No"), ("What color is the dog?", "Brown")],
    4: [("Is there a saddle?", "Yes")],
}
UNREADABLE = 7  # its image file is not an image


def write_vg(root: Path) -> Path:
    """Write the annotation files under ``root/vg`` and the images under ``root/images``; returns root."""
    vg, media = root / "vg", root / "images"
    (media / "VG_100K").mkdir(parents=True, exist_ok=True)
    vg.mkdir(parents=True, exist_ok=True)
    image_data, objects, attributes, relationships, qas, regions = [], [], [], [], [], []
    for image_id, objs in OBJECTS.items():
        url = f"https://cs.stanford.edu/people/rak248/VG_100K/{image_id}.jpg"
        image_data.append({"image_id": image_id, "url": url, "width": WIDTH, "height": 200, "coco_id": None})
        plain = [{k: v for k, v in o.items() if k != "attributes"} for o in objs]
        objects.append({"image_id": image_id, "objects": plain})
        attributes.append({"image_id": image_id, "attributes": [o for o in objs if "attributes" in o]})
        relationships.append({"image_id": image_id, "relationships": RELATIONS.get(image_id, [])})
        qas.append({"id": image_id, "qas": [{"qa_id": image_id * 10 + k, "image_id": image_id, "question": q, "answer": a}
                                            for k, (q, a) in enumerate(QUESTIONS.get(image_id, []))]})
        regions.append({"id": image_id, "regions": [{"region_id": image_id, "image_id": image_id,
                                                      "phrase": " and ".join(o["names"][0] for o in objs) or "nothing"}]})
        path = media / "VG_100K" / f"{image_id}.jpg"
        if image_id == UNREADABLE:
            path.write_bytes(b"this is not a jpeg")
        else:
            Image.new("RGB", (WIDTH // 5, 40), (image_id * 20 % 255, 100, 150)).save(path)
    for name, data in (("image_data", image_data), ("objects", objects), ("attributes", attributes),
                       ("relationships", relationships), ("question_answers", qas), ("region_descriptions", regions)):
        (vg / f"{name}.json").write_text(json.dumps(data))
    return root


# ---------------------------------------------------------------------------------------------
# a chat-completions server on loopback with scripted failures



def completion(content: str) -> dict:
    return {"id": "x", "object": "chat.completion", "created": 0, "model": "fake",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


def fake_llm_reply(messages: list[dict]) -> str:
    """Replies a cooperative LLM would give to the pipelines' prompts."""
    last = messages[-1]["content"]
    if "Objects: " in last:  # halva description: the first annotated object, tagged
        first = last.split("Objects: ", 1)[1].split("\n")[0].split(";")[0].split(" (")[0].strip()
        return f"The image shows <MASK>a {first}</MASK> in the scene."
    if '"replacements"' in last:
        n = int(re.search(r"exactly (\d+) strings", last).group(1))
        return json.dumps({"replacements": ["unicorn"] * n})
    if '"correct"' in last:
        return '{"correct": false}'
    if '"differences"' in last:
        return '{"differences": [{"sentence1": "x", "sentence2": "y"}]}'
    if '"rewritten"' in last:  # sentence 2 with its last word replaced by sentence 1's
        first = next(m for m in messages if "Sentence 2" in m["content"])["content"]
        truth = first.split("Sentence 1 (ground truth): ", 1)[1].split("\n")[0].split()
        answer = first.split("Sentence 2 (a model's answer): ", 1)[1].split("\n")[0].split()
        return json.dumps({"rewritten": " ".join(answer[:-1] + truth[-1:])})
    return "echo: " + last


class ChatServer:
    """``POST /v1/chat/completions`` on 127.0.0.1. ``script[text]`` lists what to do for successive
    requests whose last message is ``text``: ``"ok"``, an HTTP status (``429``, ``500``, ``400``),
    ``"slow"`` (answer after ``slow_seconds``), ``"garbage"`` (HTTP 200 with a body that is not JSON),
    ``"drop"`` (close the connection without answering) or ``"reply:TEXT"``; afterwards, or for other
    texts, ``reply(messages)`` is returned. ``fail_pattern(n)`` gives the action of the n-th request
    (counted over all) instead of ``"ok"``; ``delay`` slows every request."""

    def __init__(self, reply=fake_llm_reply, script=None, slow_seconds=1.0, fail_pattern=None, delay=0.0):
        self.reply, self.script = reply, {k: list(v) for k, v in (script or {}).items()}
        self.slow_seconds, self.fail_pattern, self.delay = slow_seconds, fail_pattern, delay
        self.requests: list[list[dict]] = []
        self.lock = threading.Lock()
        self.in_flight = self.max_in_flight = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests.append(body["messages"])
                    number = len(server.requests)
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                    queue = server.script.get(body["messages"][-1]["content"])
                    action = queue.pop(0) if queue else "ok"
                    if action == "ok" and server.fail_pattern:
                        action = server.fail_pattern(number)
                try:
                    server.act(self, action, body)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    with server.lock:
                        server.in_flight -= 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def act(self, handler, action, body):
        if self.delay:
            time.sleep(self.delay)
        if action == "drop":
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)
            return
        if action == "slow":
            time.sleep(self.slow_seconds)
            action = "ok"
        if isinstance(action, int):
            payload, status = json.dumps({"error": {"message": f"status {action}", "type": "x"}}).encode(), action
        elif action == "garbage":
            payload, status = b'{"choices": [ {"message": oops', 200
        else:
            content = action[len("reply:"):] if action.startswith("reply:") else self.reply(body["messages"])
            payload, status = json.dumps(completion(content)).encode(), 200
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def thirty_percent(number: int):
    """Fails 6 requests in 20 (30 %), rotating through the kinds of failure."""
    return {1: 429, 4: 500, 7: "drop", 11: "garbage", 14: 503, 17: "drop"}.get(number % 20, "ok")
