"""Differential tests: our C parser against httptools (llhttp).

Hypothesis builds requests (valid ones, then mutated ones) and both parsers
judge the first message in the bytes: *complete*, *incomplete* or *error*.
They must agree, and on complete messages give the same method, target,
header fields and body.  Where they disagree on purpose the input carries one
of the tags below; ``tags_of`` finds the tags in the raw bytes on its own
(it does not ask either parser) and a disagreement is accepted only when a
tag explains it in the documented direction.

Deliberate differences (ours vs llhttp as shipped in httptools):

=================  ===========  ===========  ============================================
tag                ours         llhttp       reason
=================  ===========  ===========  ============================================
bare-cr-lf         400          accepts      RFC 9112 2.2: a bare CR MUST be rejected
                                             (or replaced by SP) and a bare LF is not a
                                             line end we accept (2.2 MAY; lenient line
                                             ends are a smuggling vector).  llhttp skips a
                                             stray CR or LF before the request line
host-missing       400          accepts      RFC 9112 3.2: a server MUST respond 400 to an
                                             HTTP/1.1 request that lacks a Host field
host-duplicate     400          accepts      RFC 9112 3.2: ... or has more than one Host
host-invalid       400          accepts      RFC 9112 3.2: ... or an invalid Host value
                                             (uri-host [":" port], RFC 3986 3.2.2).  An
                                             empty host is invalid for http (RFC 9110
                                             4.2.1: MUST reject); the port must be 1-5
                                             digits <= 65535 (stricter than *DIGIT)
version            505 / 400    accepts      RFC 9110 15.6.6: we implement HTTP/1.0 and 1.1
                                             only; llhttp takes 0.9 and 2.0 request lines
                                             and a line with no version at all (0.9 style)
te-http10          400          accepts      RFC 9112 6.1: a server MAY treat TE in a 1.0
                                             request as faulty; doing so removes a
                                             smuggling vector (1.0 has no chunked)
te-coding          501          accepts      RFC 9112 6.1 / RFC 9110 15.6.2: a coding we
                                             do not implement (gzip, ... before chunked)
                                             SHOULD get 501; llhttp ignores codings
cl-list            accepts      400          RFC 9110 8.6: a list of identical
                                             Content-Length values (in one field or
                                             repeated fields) MAY be accepted as that value
list-empty         accepts      400          RFC 9110 5.6.1: a recipient MUST ignore
                                             empty list elements ("chunked," is chunked)
connection         400          accepts      RFC 9110 7.6.1: Connection is a list of
                                             tokens; anything else is a malformed field
fragment           400          accepts      RFC 9112 3.2: request-target has no fragment
                                             ("#" is not allowed in origin-form)
asterisk           400          accepts      RFC 9112 3.2.4: "*" only with OPTIONS
scheme             400          accepts      RFC 9112 3.2.2: absolute-form of an http(s)
                                             URI with a valid authority; other schemes are
                                             not ours to serve
rl-whitespace      400          accepts      RFC 9112 3: request-line elements separated
                                             by exactly one SP (3.2 notes lenient parsing
                                             of whitespace is a smuggling risk)
method             accepts      400          RFC 9110 9.1: a method is any token; llhttp
                                             knows a fixed list (501/405 is for the app)
ext-bws            accepts      400          RFC 9112 7.1.1: chunk-ext allows BWS around
                                             ";" and "="
ext-grammar        400          accepts      RFC 9112 7.1.1: chunk-ext-name is a token and
                                             chunk-ext-val a token or quoted-string; llhttp
                                             takes empty names and values
trailer-field      400          accepts      RFC 9110 6.5.1: framing, routing and auth
                                             fields are not allowed in trailers
upgrade            request      hand-off     RFC 9110 7.8: we do not implement Upgrade /
                                             CONNECT tunnels; the head is still compared
=================  ===========  ===========  ============================================

Not a decision difference but normalised before comparing: llhttp keeps
trailing whitespace in a field value; RFC 9112 5 excludes OWS around the
value, so we strip it (``value.rstrip(b" \\t")`` on the llhttp side).

``max_examples`` is kept small so this file runs in a few seconds; set
``REACTOR_FUZZ=<n>`` to run n examples per test with random seeds.
"""
import os
import re

import pytest

httptools = pytest.importorskip("httptools")
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from reactor._http_request import HttpParseError, decode_chunked, parse_request_head  # noqa: E402

_FUZZ = int(os.environ.get("REACTOR_FUZZ", "0"))


def limited(n):
    return settings(max_examples=_FUZZ or n, deadline=None, database=None,
                    derandomize=not _FUZZ,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


BIG = dict(max_request_line=1 << 20, max_header_size=1 << 22, max_headers=256,
           max_body_size=1 << 40)

# ---- the two oracles -----------------------------------------------------------------


def ours(data):
    """('complete', method, target, headers, body) / ('incomplete',) / ('error', status)."""
    try:
        r = parse_request_head(data, **BIG)
    except HttpParseError as exc:
        return ("error", exc.status)
    if r is None:
        return ("incomplete",)
    n, info = r
    rest = data[n:]
    if info["body_kind"] == "length":
        if len(rest) < info["content_length"]:
            return ("incomplete",)
        body = rest[:info["content_length"]]
    elif info["body_kind"] == "chunked":
        try:
            d = decode_chunked(rest, max_body_size=1 << 40, max_trailer_size=1 << 20)
        except HttpParseError as exc:
            return ("error", exc.status)
        if d is None:
            return ("incomplete",)
        body = d[0]
    else:
        body = b""
    return ("complete", info["method"], info["target"], info["headers"], body)


class _Proto:
    def __init__(self):
        self.url = b""
        self.headers = []
        self.body = b""
        self.head_done = False
        self.done = False

    def on_url(self, url):
        self.url += url

    def on_header(self, name, value):
        if not self.head_done:          # trailers are not compared
            self.headers.append((name, value.rstrip(b" \t")))

    def on_headers_complete(self):
        self.head_done = True

    def on_body(self, body):
        self.body += body

    def on_message_complete(self):
        self.done = True
        raise _Stop()                   # judge the first message only


class _Stop(Exception):
    pass


def theirs(data):
    """The same shape from httptools; ('upgrade', ...) when llhttp hands off."""
    proto = _Proto()
    parser = httptools.HttpRequestParser(proto)
    try:
        parser.feed_data(data)
    except httptools.HttpParserUpgrade:
        return ("upgrade", parser.get_method(), proto.url, proto.headers)
    except httptools.HttpParserError:
        if proto.done:
            return ("complete", parser.get_method(), proto.url, proto.headers, proto.body)
        return ("error",)
    return ("incomplete",)


# ---- finding deliberate differences in raw bytes -----------------------------------------

TCHAR = b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_REGNAME = re.compile(rb"(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})+\Z")
_IPV6 = re.compile(rb"\[(?:[0-9A-Fa-f.]*:[0-9A-Fa-f.]*:[0-9A-Fa-f.:]*"
                   rb"|[vV][0-9A-Fa-f]+\.[A-Za-z0-9\-._~!$&'()*+,;=:]+)\]\Z")
_TOKEN_RE = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_QSTRING = rb'"(?:[\t !#-\[\]-~\x80-\xff]|\\[\t -~\x80-\xff])*"'
_CHUNK_EXT = re.compile(rb"(?:[ \t]*;[ \t]*" + _TOKEN_RE + rb"(?:[ \t]*=[ \t]*(?:" + _TOKEN_RE
                        + rb"|" + _QSTRING + rb"))?)*\Z")
LLHTTP_METHODS = {b"DELETE", b"GET", b"HEAD", b"POST", b"PUT", b"CONNECT", b"OPTIONS", b"TRACE",
                  b"COPY", b"LOCK", b"MKCOL", b"MOVE", b"PROPFIND", b"PROPPATCH", b"SEARCH",
                  b"UNLOCK", b"BIND", b"REBIND", b"UNBIND", b"ACL", b"REPORT", b"MKACTIVITY",
                  b"CHECKOUT", b"MERGE", b"M-SEARCH", b"NOTIFY", b"SUBSCRIBE", b"UNSUBSCRIBE",
                  b"PATCH", b"PURGE", b"MKCALENDAR", b"LINK", b"UNLINK", b"SOURCE", b"QUERY"}
FORBIDDEN_TRAILERS = {b"content-length", b"transfer-encoding", b"host", b"connection",
                      b"trailer", b"te", b"content-type", b"content-encoding", b"content-range",
                      b"expect", b"upgrade", b"keep-alive", b"proxy-connection", b"authorization",
                      b"proxy-authorization", b"cookie", b"range"}

# direction of each tag: which side rejects (or the shape both sides see)
OURS_REJECT = {"bare-cr-lf", "host-missing", "host-duplicate", "host-invalid", "version", "te-http10",
               "te-coding", "connection", "fragment", "asterisk", "scheme", "rl-whitespace",
               "trailer-field", "ext-grammar"}
THEIRS_REJECT = {"cl-list", "method", "ext-bws", "list-empty"}


def host_ok(v, need_port=False):
    host, port = v, None
    if v.startswith(b"["):
        end = v.find(b"]")
        if end < 0:
            return False
        host, rest = v[:end + 1], v[end + 1:]
        if not _IPV6.match(host):
            return False
        if rest:
            if not rest.startswith(b":"):
                return False
            port = rest[1:]
    else:
        host, sep, port = v.partition(b":")
        if not sep:
            port = None
        if not _REGNAME.match(host):
            return False
    if port is None:
        return not need_port
    return port.isdigit() and 1 <= len(port) <= 5 and int(port) <= 65535 and port.isascii()


def _split_list(v):
    return [e.strip(b" \t") for e in v.split(b",")]


def tags_of(data):
    """The documented differences present in ``data`` (best effort on raw bytes)."""
    tags = set()
    head = data[:data.find(b"\r\n\r\n") + 4] if b"\r\n\r\n" in data else data
    if re.search(rb"\r(?!\n)|(?<!\r)\n", head):
        tags.add("bare-cr-lf")
    i = 0
    while data.startswith(b"\r\n", i):
        i += 2
    line_end = data.find(b"\r\n", i)
    if line_end < 0:
        return tags
    line = data[i:line_end]
    parts = line.split(b" ")
    if len(parts) == 2 and all(parts):
        tags.add("version")             # "GET /": an HTTP/0.9 request line
    elif len(parts) != 3 or any(not p for p in parts) or b"\t" in line:
        tags.add("rl-whitespace")
    words = line.split()
    if len(words) < 3:
        return tags
    method, target, version = words[0], words[1], words[-1]
    if _TOKEN.match(method) and method not in LLHTTP_METHODS:
        tags.add("method")
    if b"#" in target:
        tags.add("fragment")
    if target == b"*" and method != b"OPTIONS":
        tags.add("asterisk")
    if method == b"CONNECT":
        tags.add("upgrade")
    elif not target.startswith(b"/") and target != b"*":
        m = re.match(rb"([A-Za-z][A-Za-z0-9+.\-]*)://([^/?#]*)", target)
        if not m or m.group(1).lower() not in (b"http", b"https") or not host_ok(m.group(2)):
            tags.add("scheme")
    if re.match(rb"HTTP/\d\.\d\Z", version) and version not in (b"HTTP/1.0", b"HTTP/1.1"):
        tags.add("version")
    v11 = version == b"HTTP/1.1"
    head_end = data.find(b"\r\n\r\n", line_end)
    if head_end < 0:
        head_end = len(data)
    fields = []
    for fl in data[line_end + 2:head_end].split(b"\r\n"):
        name, sep, value = fl.partition(b":")
        if sep:
            fields.append((name.lower(), value.strip(b" \t")))
    get = lambda n: [v for k, v in fields if k == n]   # noqa: E731
    hosts = get(b"host")
    if v11 and not hosts:
        tags.add("host-missing")
    if len(hosts) > 1:
        tags.add("host-duplicate")
    if any(not host_ok(h) for h in hosts):
        tags.add("host-invalid")
    for v in get(b"connection"):
        if any(e and not _TOKEN.match(e) for e in _split_list(v)):
            tags.add("connection")
        if any(e.lower() == b"upgrade" for e in _split_list(v)) and get(b"upgrade"):
            tags.add("upgrade")
    if any(not e for v in get(b"transfer-encoding") for e in _split_list(v)):
        tags.add("list-empty")
    tes = [e.lower() for v in get(b"transfer-encoding") for e in _split_list(v) if e]
    if tes and version == b"HTTP/1.0":
        tags.add("te-http10")
    if tes and tes[-1] == b"chunked" and any(e != b"chunked" for e in tes[:-1]):
        tags.add("te-coding")
    cls = [e for v in get(b"content-length") for e in _split_list(v)]
    if len(cls) > 1:
        tags.add("cl-list")
    # chunked body: walk the chunks, look at extensions and trailer names
    if tes:
        pos = head_end + 4
        while True:
            eol = data.find(b"\r\n", pos)
            m = re.match(rb"([0-9A-Fa-f]+)(.*)\Z", data[pos:eol], re.S) if eol >= 0 else None
            if not m:
                break
            if not _CHUNK_EXT.match(m.group(2)):
                tags.add("ext-grammar")
            elif re.search(rb"[ \t]", re.sub(_QSTRING, b'""', m.group(2))):
                tags.add("ext-bws")
            size = int(m.group(1), 16)
            pos = eol + 2
            if size == 0:
                while True:
                    eol = data.find(b"\r\n", pos)
                    if eol <= pos:
                        break
                    name, sep, _ = data[pos:eol].partition(b":")
                    if sep and name.lower() in FORBIDDEN_TRAILERS:
                        tags.add("trailer-field")
                    pos = eol + 2
                break
            pos += size + 2
    return tags


def check_agree(data):
    a, b = ours(data), theirs(data)
    tags = tags_of(data)
    if b[0] == "upgrade":
        assert "upgrade" in tags, (data, a, b)
        if a[0] == "complete":
            assert (a[1], a[2], a[3]) == tuple(b[1:4]), (data, a, b)
        return a, b, tags
    if a[0] == b[0]:
        if a[0] == "complete":
            assert a[1:] == b[1:], ("same decision, different fields", data, a, b)
        return a, b, tags
    # disagreement: needs a documented tag in the right direction
    if a[0] == "error":
        ok = bool(tags & OURS_REJECT)
    elif b[0] == "error":
        ok = bool(tags & THEIRS_REJECT)
    else:                               # complete vs incomplete: framing disagrees
        ok = bool(tags & (OURS_REJECT | THEIRS_REJECT))
    assert ok, ("undocumented difference", data, a, b, tags)
    return a, b, tags


# ---- request strategies ---------------------------------------------------------------------

UNRESERVED = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~"
PCHAR = UNRESERVED + "!$&'()*+,;=:@"
FIELD_VCHAR = "".join(chr(c) for c in range(0x21, 0x7f))
SPECIAL = {"host", "content-length", "transfer-encoding", "connection", "upgrade", "expect",
           "te", "trailer", "keep-alive", "proxy-connection"}

pct = st.builds(lambda a, b: "%" + a + b, st.sampled_from("0123456789ABCDEFabcdef"),
                st.sampled_from("0123456789ABCDEFabcdef"))
segment = st.lists(st.one_of(st.sampled_from(PCHAR), pct), max_size=8).map("".join)
path = st.lists(segment, min_size=1, max_size=4).map(lambda s: "/" + "/".join(s))
query = st.lists(st.one_of(st.sampled_from(PCHAR + "/?"), pct), max_size=12).map("".join)
origin = st.builds(lambda p, q: p + ("?" + q if q is not None else ""), path,
                   st.none() | query)
reg_name = st.text(UNRESERVED, min_size=1, max_size=12)
host_value = st.builds(lambda h, p: h + (":%d" % p if p is not None else ""),
                       reg_name | st.sampled_from(["127.0.0.1", "[::1]", "[2001:db8::7]"]),
                       st.none() | st.integers(0, 65535))
absolute = st.builds(lambda s, h, o: s + "://" + h + o, st.sampled_from(["http", "https", "HTTP"]),
                     host_value, st.sampled_from(["", "/"]) | origin)
field_name = st.text(TCHAR.decode(), min_size=1, max_size=12).filter(
    lambda n: n.lower() not in SPECIAL)
field_value = st.builds(
    lambda core, lead, trail: lead + core + trail,
    st.text(FIELD_VCHAR + " \t", max_size=20).map(lambda s: s.strip(" \t")) |
    st.binary(max_size=6).map(lambda b: bytes(c | 0x80 for c in b).decode("latin-1")),
    st.sampled_from(["", " ", "\t", "  "]), st.sampled_from(["", " ", "\t "]))


def _case(name, draw):
    return draw(st.sampled_from([name, name.lower(), name.upper()]))


@st.composite
def requests(draw):
    """A valid request with no deliberate-difference tag, as bytes."""
    version = draw(st.sampled_from(["HTTP/1.1", "HTTP/1.0"]))
    body_kind = draw(st.sampled_from(["none", "length", "chunked"] if version == "HTTP/1.1"
                                     else ["none", "length"]))
    method = draw(st.sampled_from(["GET", "HEAD", "DELETE", "OPTIONS"] if body_kind == "none"
                                  else ["POST", "PUT", "PATCH"]))
    if method == "OPTIONS" and draw(st.booleans()):
        target = "*"
    else:
        target = draw(origin | absolute)
    fields = [(draw(field_name), draw(field_value)) for _ in range(draw(st.integers(0, 6)))]
    if version == "HTTP/1.1" or draw(st.booleans()):
        fields.insert(draw(st.integers(0, len(fields))), (_case("Host", draw), draw(host_value)))
    conn = draw(st.sampled_from([None, "close", "keep-alive", "Keep-Alive", "close, foo"]))
    if conn:
        fields.append((_case("Connection", draw), conn))
    body = b""
    chunks = b""
    if body_kind == "length":
        body = draw(st.binary(max_size=64))
        fields.insert(draw(st.integers(0, len(fields))),
                      (_case("Content-Length", draw), "0" * draw(st.integers(0, 2)) + str(len(body))))
    elif body_kind == "chunked":
        fields.insert(draw(st.integers(0, len(fields))), (_case("Transfer-Encoding", draw), "chunked"))
        pieces = draw(st.lists(st.binary(min_size=1, max_size=40), max_size=4))
        body = b"".join(pieces)
        out = []
        for p in pieces:
            ext = draw(st.sampled_from(["", ";a", ";a=b", ';name="quoted \\" value"']))
            size = ("%x" if draw(st.booleans()) else "%X") % len(p)
            out.append(size.encode() + ext.encode() + b"\r\n" + p + b"\r\n")
        out.append(b"0\r\n")
        for _ in range(draw(st.integers(0, 2))):
            out.append(("X-Trailer-%d: %s\r\n" % (len(out), draw(st.text(UNRESERVED, max_size=8))))
                       .encode())
        out.append(b"\r\n")
        chunks = b"".join(out)
    head = "%s %s %s\r\n" % (method, target, version)
    head += "".join("%s:%s\r\n" % (n, v) for n, v in fields)
    lead = "\r\n" * draw(st.integers(0, 1))
    data = (lead + head + "\r\n").encode("latin-1") + (chunks if body_kind == "chunked" else body)
    return data, method.encode(), target.encode(), body


TRICKY_FIELDS = [
    (b"Content-Length", [b"5", b"0", b"5, 5", b"+5", b"0x5", b"", b" 5 ", b"05", b"5,6", b"1e1",
                         b"-0", b"18446744073709551616", b"5_0", b"5 5"]),
    (b"Transfer-Encoding", [b"chunked", b"gzip, chunked", b"chunked, gzip", b"identity",
                            b"chunked;x=1", b"CHUNKED", b",chunked", b"chunked,", b"x-y", b"",
                            b"chunked, chunked"]),
    (b"Host", [b"", b"a b", b"a:1", b"a:", b":1", b"[::1]", b"[::1]:80", b"a:99999", b"a@b",
               b"a%20b", b"a%2", b"*", b"a,b", b"h"]),
    (b"Connection", [b"close", b"keep-alive", b"a b", b"close,", b",", b"", b"Close", b"x;y"]),
    (b"Expect", [b"100-continue", b"", b"x"]),
]
SPICE = b"\r\n\x00\t :;,=\"\\#\x7f\x80\xff/?*%-0123456789aAfFzZ"


@st.composite
def mutated(draw):
    data, _, _, _ = draw(requests())
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["insert", "replace", "delete", "lf", "dup-line", "swap-case",
                                   "field"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        byte = bytes([draw(st.sampled_from(SPICE))])
        if op == "insert":
            data = data[:pos] + byte + data[pos:]
        elif op == "replace":
            data = data[:pos] + byte + data[pos + 1:]
        elif op == "delete":
            data = data[:pos] + data[pos + 1:]
        elif op == "lf":
            crlfs = [m.start() for m in re.finditer(b"\r\n", data)]
            if crlfs:
                k = draw(st.sampled_from(crlfs))
                data = data[:k] + data[k + 1:]
        elif op == "dup-line":
            lines = data.split(b"\r\n")
            if len(lines) > 2:
                k = draw(st.integers(1, len(lines) - 2))
                lines.insert(k, lines[k])
                data = b"\r\n".join(lines)
        elif op == "field":
            name, values = draw(st.sampled_from(TRICKY_FIELDS))
            lines = data.split(b"\r\n")
            k = draw(st.integers(1, max(1, len(lines) - 2)))
            lines.insert(k, name + b": " + draw(st.sampled_from(values)))
            data = b"\r\n".join(lines)
        else:
            data = data[:pos] + data[pos:pos + 1].swapcase() + data[pos + 1:]
    return data


# ---- the tests ------------------------------------------------------------------------------

@limited(300)
@given(requests())
def test_valid_requests_agree(case):
    data, method, target, body = case
    assert not tags_of(data), tags_of(data)
    a, b, _ = check_agree(data)
    assert a[0] == "complete", (data, a, b)
    assert a[1] == method and a[2] == target and a[4] == body
    # a second request pipelined behind it changes nothing
    assert ours(data + b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") == a


@limited(600)
@given(mutated())
def test_mutated_requests_agree(data):
    check_agree(data)


@limited(200)
@given(requests(), st.data())
def test_truncated_requests_agree(case, draw):
    data = case[0]
    cut = draw.draw(st.integers(0, len(data) - 1))
    a, b, _ = check_agree(data[:cut])
    assert a[0] == "incomplete", (data[:cut], a)


# Each documented difference, shown once with both parsers (so the table stays true).
DIFFERENCES = [
    ("bare-cr-lf", b"\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", "error", "complete"),
    ("bare-cr-lf", b"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", "error", "complete"),
    ("host-missing", b"GET / HTTP/1.1\r\n\r\n", "error", "complete"),
    ("host-duplicate", b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", "error", "complete"),
    ("host-invalid", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", "error", "complete"),
    ("host-invalid", b"GET / HTTP/1.1\r\nHost:\r\n\r\n", "error", "complete"),
    ("host-invalid", b"GET / HTTP/1.1\r\nHost: a:99999\r\n\r\n", "error", "complete"),
    ("version", b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", "error", "complete"),
    ("version", b"GET / HTTP/0.9\r\nHost: a\r\n\r\n", "error", "complete"),
    ("version", b"GET /x\r\nHost: a\r\n\r\n", "error", "complete"),
    ("list-empty", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked,\r\n\r\n"
                   b"0\r\n\r\n", "complete", "error"),
    ("ext-grammar", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"3;a=\r\nabc\r\n0\r\n\r\n", "error", "complete"),
    ("te-http10", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
     "error", "complete"),
    ("te-coding", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                  b"0\r\n\r\n", "error", "complete"),
    ("cl-list", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc",
     "complete", "error"),
    ("cl-list", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
     "complete", "error"),
    ("connection", b"GET / HTTP/1.1\r\nHost: a\r\nConnection: a b\r\n\r\n", "error", "complete"),
    ("fragment", b"GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", "error", "complete"),
    ("asterisk", b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", "error", "complete"),
    ("scheme", b"GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", "error", "complete"),
    ("rl-whitespace", b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", "error", "complete"),
    ("method", b"FROB / HTTP/1.1\r\nHost: a\r\n\r\n", "complete", "error"),
    ("ext-bws", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"3 ;a\r\nabc\r\n0\r\n\r\n", "complete", "error"),
    ("trailer-field", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"3\r\nabc\r\n0\r\nHost: b\r\n\r\n", "error", "complete"),
]


@pytest.mark.parametrize("tag,data,want_ours,want_theirs", DIFFERENCES,
                         ids=[d[0] for d in DIFFERENCES])
def test_documented_difference(tag, data, want_ours, want_theirs):
    assert tag in tags_of(data)
    assert ours(data)[0] == want_ours
    assert theirs(data)[0] == want_theirs
    check_agree(data)          # and the checker accepts it only because of the tag
    assert tag in __doc__


def test_every_tag_is_documented_and_shown():
    shown = {d[0] for d in DIFFERENCES} | {"upgrade"}
    for tag in OURS_REJECT | THEIRS_REJECT | {"upgrade"}:
        assert re.search(r"^%s\s" % re.escape(tag), __doc__, re.M), tag
        assert tag in shown, tag


@pytest.mark.parametrize("data", [
    b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
])
def test_upgrade_head_is_compared(data):
    a, b, tags = check_agree(data)
    assert "upgrade" in tags and a[0] == "complete" and b[0] in ("upgrade", "complete")
    assert b[1] == a[1] and b[2] == a[2]


def test_trailing_whitespace_normalised():
    data = b"GET / HTTP/1.1\r\nHost: a\r\nX:  v v \t \r\n\r\n"
    a, b, _ = check_agree(data)
    assert (b"X", b"v v") in a[3]
