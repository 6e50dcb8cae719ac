"""Safe by default, over plain HTTP: a change needs the page's token and this origin, uploads are capped and
renamed, only what a document published is served (no path out of it), and the hostile files the command
line refuses end quarantined here too, their reason on the documents page."""

from __future__ import annotations

import http.client
import json
import re
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from docpipe_local.console.safety import TOKEN_HEADER
from docpipe_local.console.server import BackgroundConsole

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
HOSTILE = {  # file -> what its reason says (samples/bad, as `docpipe run samples/bad` reports them)
    "encrypted.pdf": "password-protected",
    "empty.pdf": "empty",
    "truncated.pdf": "truncated",
    "png_named.pdf": "disguised",
    "bomb.png": "decompression bomb",
}


def _request(url: str, method: str = "GET", body: bytes | None = None, headers: dict | None = None):
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read(), response.headers
    except urllib.error.HTTPError as err:
        return err.code, err.read(), err.headers


def _token(console: BackgroundConsole) -> str:
    status, body, _ = _request(console.url + "/")
    assert status == 200
    return re.search(rb'name="docpipe-token" content="([^"]+)"', body).group(1).decode()


def _multipart(files: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, data in files:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
                     f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _upload(console, files, token: str | None, origin: str | None = None):
    body, content_type = _multipart(files)
    headers = {"Content-Type": content_type}
    if token is not None:
        headers[TOKEN_HEADER] = token
    if origin is not None:
        headers["Origin"] = origin
    return _request(console.url + "/upload", "POST", body, headers)


def _wait_for(console, predicate, timeout: float = 120):
    deadline = time.monotonic() + timeout
    catalog = console.app.state.console.catalog
    while time.monotonic() < deadline:
        catalog.refresh()
        found = predicate(catalog.rows.values())
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"not reached in {timeout:.0f} s: {[(r.name, r.status) for r in catalog.rows.values()]}")


def test_the_console_listens_on_this_machine_only_by_default():
    from docpipe_local.console.command import add_parser
    import argparse

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["console"])
    assert (args.host, args.port, args.open) == ("127.0.0.1", 8080, False)


def test_a_change_without_the_token_or_from_another_site_is_refused(console):
    token = _token(console)
    status, body, _ = _upload(console, [("note.txt", b"hello there, a note")], token=None)
    assert status == 403 and b"token" in body
    status, body, _ = _upload(console, [("note.txt", b"hello there, a note")], token="not-the-token")
    assert status == 403
    status, body, _ = _upload(console, [("note.txt", b"hello there, a note")], token=token,
                              origin="http://evil.example")
    assert status == 403 and b"another site" in body
    for path in ("/documents/x/delete", "/documents/x/reprocess", "/ask", "/endpoints/reap"):
        assert _request(console.url + path, "POST", b"", {})[0] == 403
    assert not console.app.state.console.catalog.rows  # nothing was uploaded


def test_uploads_are_capped_and_renamed(console):
    token = _token(console)
    connection = http.client.HTTPConnection(console.url.split("//")[1], timeout=30)
    connection.putrequest("POST", "/upload")  # 9 MB announced: refused before a byte of the body is read
    for name, value in ((TOKEN_HEADER, token), ("Content-Type", "multipart/form-data; boundary=x"),
                        ("Content-Length", str(9 * 1024 * 1024))):
        connection.putheader(name, value)
    connection.endheaders()
    response = connection.getresponse()
    assert response.status == 413 and b"limited to 8 MB" in response.read()
    connection.close()
    status, body, _ = _upload(console, [("../../outside/..\\evil name;$(id).txt", b"a harmless note to process")], token)
    assert status == 200, body
    assert json.loads(body) == {"submitted": ["evil_name_id_.txt"]}
    runtime = console.app.state.console.runtime
    keys = [o["Key"] for o in runtime.s3.list_objects_v2(Bucket=runtime.bucket, Prefix="inbox/")["Contents"]]
    assert keys == ["inbox/evil_name_id_.txt"]


def test_hostile_files_end_quarantined_with_their_reason_on_the_page(console):
    token = _token(console)
    status, body, _ = _upload(console, [(name, (SAMPLES / "bad" / name).read_bytes()) for name in HOSTILE], token)
    assert status == 200, body
    rows = _wait_for(console, lambda rows: [r for r in rows if r.name in HOSTILE and r.status == "QUARANTINED"]
                     if sum(r.name in HOSTILE and r.status == "QUARANTINED" for r in rows) == len(HOSTILE) else None)
    _, page, _ = _request(console.url + "/?status=QUARANTINED")
    text = page.decode()
    for row in rows:
        assert HOSTILE[row.name] in row.reason
        assert row.reason.replace("'", "&#39;").replace('"', "&#34;") in text  # in full, escaped as HTML
        assert "Error" not in row.reason and "Exception" not in row.reason  # words, not exception names


def test_only_a_documents_published_outputs_are_served(console):
    rows = _wait_for(console, lambda rows: [r for r in rows if r.name == "encrypted.pdf" and r.status == "QUARANTINED"])
    doc = rows[0].id
    status, body, headers = _request(f"{console.url}/documents/{doc}/outputs/reason.json")
    assert status == 200 and "password-protected" in json.loads(body)["reason"]
    status, _, headers = _request(f"{console.url}/documents/{doc}/outputs/encrypted.pdf")
    assert status == 200 and headers["Content-Disposition"].startswith("attachment")  # never rendered
    home = console.app.state.console.runtime.home
    assert (home / "logs" / "functions.jsonl").exists()
    for path in (f"/documents/{doc}/outputs/..%2F..%2Flogs%2Ffunctions.jsonl",
                 f"/documents/{doc}/outputs/%2e%2e%2fmanifest.json",
                 f"/documents/{doc}/outputs/manifest.json%00.mp3",
                 f"/documents/{doc}/outputs/text.json",  # a quarantined document published no text
                 "/documents/..%2F..%2Flogs/outputs/functions.jsonl",
                 "/documents/%2e%2e/outputs/reason.json",
                 "/static/..%2Fapp.py", "/static/../app.py", "/static/%2e%2e/app.py"):
        status, body, _ = _request(console.url + path)
        assert status == 404, (path, status)
        assert b"docpipe_local" not in body and b'"level"' not in body



def test_reprocess_runs_the_content_again_and_delete_retires_the_document(console):
    token = _token(console)
    [row] = _wait_for(console, lambda rows: [r for r in rows if r.name == "empty.pdf" and r.status == "QUARANTINED"])
    status, body, _ = _request(f"{console.url}/documents/{row.id}/reprocess", "POST", b"", {TOKEN_HEADER: token})
    assert status == 200, body
    again = _wait_for(console, lambda rows: [r for r in rows if r.name == "empty.pdf" and r.id != row.id
                                             and r.status == "QUARANTINED"])
    assert again[0].reason == row.reason  # a new version, a new doc_id, the same verdict
    status, body, _ = _request(f"{console.url}/documents/{row.id}/delete", "POST", b"", {TOKEN_HEADER: token})
    assert status == 200, body
    _wait_for(console, lambda rows: {r.id: r.status for r in rows if r.name == "empty.pdf"}
              == {row.id: "DELETED", again[0].id: "DELETED"})
    runtime = console.app.state.console.runtime
    assert "Contents" not in runtime.s3.list_objects_v2(Bucket=runtime.bucket, Prefix="inbox/empty.pdf")
