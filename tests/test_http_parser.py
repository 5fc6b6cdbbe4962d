"""The C request parser through its Python bindings.

``reactor._http_request.parse_request_head`` and ``decode_chunked`` call
``csrc/http_parser.c`` directly.  Every valid head is checked cut at every
byte (each strict prefix is "need more") and with a pipelined request
appended (the extra bytes are not consumed); every invalid head is checked
cut at every byte too (each prefix is "need more" or the same error).  The
last test builds and runs the C-level tests under ASan/UBSan.
"""
import os
import re
import shutil
import subprocess

import pytest

from http_helpers import ROOT
from reactor._http_request import HttpParseError, decode_chunked, parse_request_head

NEXT = b"GET /next HTTP/1.1\r\nHost: n\r\n\r\n"


def status(data, **lim):
    """None if incomplete, 0 if it parses, else the error status."""
    try:
        r = parse_request_head(data, **lim)
    except HttpParseError as exc:
        return exc.status
    return None if r is None else 0


def ok(data, **lim):
    """``data`` is exactly one complete head: check every cut and pipelining."""
    for k in range(len(data)):
        assert parse_request_head(data[:k], **lim) is None, (k, data[:k])
    n, info = parse_request_head(data, **lim)
    assert n == len(data)
    n2, info2 = parse_request_head(data + NEXT, **lim)
    assert n2 == len(data), "pipelined bytes must not be consumed"
    assert info2 == info
    return info


def bad(data, want, **lim):
    """``data`` is rejected with ``want``; every prefix is incomplete or the same error."""
    for k in range(len(data)):
        got = status(data[:k], **lim)
        assert got in (None, want), (k, data[:k], got)
    assert status(data, **lim) == want, data
    assert status(data + NEXT, **lim) == want
    with pytest.raises(HttpParseError) as ei:
        parse_request_head(data, **lim)
    assert ei.value.status == want and ei.value.message


def req(line=b"GET / HTTP/1.1", headers=(b"Host: h",)):
    return line + b"\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n"


# ---- the request line --------------------------------------------------------------

def test_simple_request_fields():
    info = ok(b"GET /a/b?x=1&y HTTP/1.1\r\nHost: example.com\r\nX-A: 1\r\n\r\n")
    assert info["method"] == b"GET"
    assert info["target"] == b"/a/b?x=1&y"
    assert info["path"] == b"/a/b"
    assert info["query"] == b"x=1&y"
    assert info["version"] == "HTTP/1.1"
    assert info["headers"] == [(b"Host", b"example.com"), (b"X-A", b"1")]
    assert info["body_kind"] == "none" and info["content_length"] is None
    assert info["keep_alive"] is True and info["expect_continue"] is False


@pytest.mark.parametrize("method", [b"GET", b"POST", b"M-SEARCH", b"get", b"PROPFIND",
                                   b"X!#$%&'*+-.^_`|~9"])
def test_method_is_any_token(method):
    assert ok(req(method + b" / HTTP/1.1"))["method"] == method


@pytest.mark.parametrize("line", [
    b"G(ET / HTTP/1.1", b"GE,T / HTTP/1.1", b"G\"T / HTTP/1.1", b"GET\x00 / HTTP/1.1",
    b" GET / HTTP/1.1", b"\tGET / HTTP/1.1", b"G\x80T / HTTP/1.1", b"GET\t/ HTTP/1.1",
    b"GET  / HTTP/1.1", b"GET /  HTTP/1.1", b"GET / HTTP/1.1 ", b"GET /", b"/ HTTP/1.1",
])
def test_bad_request_line(line):
    bad(req(line), 400)


def test_query_forms():
    info = ok(req(b"GET /p? HTTP/1.1"))
    assert info["path"] == b"/p" and info["query"] == b""
    info = ok(req(b"GET /p HTTP/1.1"))
    assert info["query"] is None
    info = ok(req(b"GET /p?a?b=/c HTTP/1.1"))
    assert info["path"] == b"/p" and info["query"] == b"a?b=/c"


def test_absolute_form():
    info = ok(req(b"GET http://example.com:8080/a/b?q=1 HTTP/1.1", (b"Host: example.com:8080",)))
    assert info["target"] == b"http://example.com:8080/a/b?q=1"
    assert info["path"] == b"/a/b" and info["query"] == b"q=1"
    info = ok(req(b"GET HTTPS://h HTTP/1.1"))
    assert info["path"] == b"/" and info["query"] is None
    info = ok(req(b"GET http://h?x=1 HTTP/1.1"))
    assert info["path"] == b"/" and info["query"] == b"x=1"
    info = ok(req(b"GET http://[::1]:80/ HTTP/1.1"))
    assert info["path"] == b"/"


@pytest.mark.parametrize("target", [b"ftp://h/", b"http://", b"http:///x", b"http://a b/",
                                    b"foo", b"h:80", b"http://a@b/"])
def test_bad_absolute_or_unknown_form(target):
    bad(req(b"GET " + target + b" HTTP/1.1"), 400)


def test_authority_form_connect():
    info = ok(req(b"CONNECT example.com:443 HTTP/1.1", (b"Host: example.com:443",)))
    assert info["method"] == b"CONNECT"
    assert info["target"] == info["path"] == b"example.com:443"
    ok(req(b"CONNECT [::1]:8443 HTTP/1.1"))


@pytest.mark.parametrize("target", [b"example.com", b"/path", b"*", b"http://h/", b"h:",
                                    b"h:123456", b"h:99999"])
def test_connect_needs_authority_form(target):
    bad(req(b"CONNECT " + target + b" HTTP/1.1"), 400)


def test_asterisk_form_options_only():
    info = ok(req(b"OPTIONS * HTTP/1.1"))
    assert info["target"] == b"*" and info["path"] == b"*" and info["query"] is None
    ok(req(b"OPTIONS /x HTTP/1.1"))
    bad(req(b"GET * HTTP/1.1"), 400)
    bad(req(b"OPTIONS ** HTTP/1.1"), 400)


@pytest.mark.parametrize("target", [b"/a#frag", b"/a\x7f", b"/\x80", b"/a\x01b", b"/\xff"])
def test_target_characters(target):
    bad(req(b"GET " + target + b" HTTP/1.1"), 400)


# ---- versions ----------------------------------------------------------------------

def test_http10_and_http11():
    assert ok(req(b"GET / HTTP/1.0", ()))["version"] == "HTTP/1.0"
    assert ok(req(b"GET / HTTP/1.1"))["version"] == "HTTP/1.1"


@pytest.mark.parametrize("version", [b"HTTP/2.0", b"HTTP/1.2", b"HTTP/0.9", b"HTTP/3.0",
                                     b"HTTP/9.9", b"HTTP/1.9"])
def test_unsupported_version_505(version):
    bad(req(b"GET / " + version), 505)


@pytest.mark.parametrize("version", [b"http/1.1", b"HTTP/1", b"HTTP/1.10", b"HTTP/a.b",
                                     b"HTTPS/1.1", b"HTTP/1.1x", b"HTTP 1.1", b"HTTP/11",
                                     b"HTTP/1.", b"HTTP/.1", b"XTTP/1.1"])
def test_malformed_version_400(version):
    bad(req(b"GET / " + version), 400)


# ---- line endings --------------------------------------------------------------------

@pytest.mark.parametrize("data", [
    b"GET / HTTP/1.1\nHost: h\r\n\r\n",          # bare LF after the request line
    b"GET / HTTP/1.1\r\nHost: h\n\r\n",          # after a field line
    b"GET / HTTP/1.1\r\nHost: h\r\n\n",          # the final empty line
    b"GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n",
    b"\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",      # before the request line
    b"GET /\n HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET / HTTP/1.0\n\n",
])
def test_bare_lf_400(data):
    bad(data, 400)


@pytest.mark.parametrize("data", [
    b"GET / HTTP/1.1\rHost: h\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: h\r\n\rX",
    b"\rGET / HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET /\r HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET\r/ HTTP/1.1\r\nHost: h\r\n\r\n",
])
def test_bare_cr_400(data):
    bad(data, 400)


def test_leading_empty_lines_skipped_and_consumed():
    data = b"\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"
    info = ok(data)
    assert info["method"] == b"GET"


# ---- field lines ---------------------------------------------------------------------------

@pytest.mark.parametrize("field", [
    b"X-A : v", b"X-A\t: v",                 # whitespace between name and colon
    b": v",                                  # empty name
    b"X(A: v", b"X A: v", b"X\"A: v", b"X@A: v", b"\x80X: v",
    b"X-A v",                                # no colon
    b"X: a\x00b", b"X: a\x01b", b"X: \x1f", b"X: a\x7f", b"X: a\x0bb", b"X: a\x0cb",
])
def test_bad_field_line_400(field):
    bad(req(headers=(b"Host: h", field)), 400)


@pytest.mark.parametrize("fold", [b" folded", b"\tfolded", b"  X: y"])
def test_obs_fold_400(fold):
    bad(req(headers=(b"Host: h", b"X: y", fold)), 400)
    bad(req(headers=(fold, b"Host: h")), 400)


def test_field_values():
    info = ok(req(headers=(b"Host: h", b"X-Trim: \t v  v \t", b"X-Empty:", b"X-Tab: a\tb",
                           b"X-Obs: caf\xe9\xff", b"x-case: Q")))
    h = info["headers"]
    assert (b"X-Trim", b"v  v") in h
    assert (b"X-Empty", b"") in h
    assert (b"X-Tab", b"a\tb") in h
    assert (b"X-Obs", b"caf\xe9\xff") in h
    assert (b"x-case", b"Q") in h


def test_repeated_fields_kept_in_order():
    info = ok(req(headers=(b"Host: h", b"A: 1", b"B: 2", b"a: 3")))
    assert info["headers"] == [(b"Host", b"h"), (b"A", b"1"), (b"B", b"2"), (b"a", b"3")]


# ---- Content-Length --------------------------------------------------------------------

def cl(*values, version=b"HTTP/1.1"):
    return req(b"POST / " + version, (b"Host: h",) + tuple(b"Content-Length: " + v for v in values))


@pytest.mark.parametrize("values,length", [
    ((b"0",), 0), ((b"5",), 5), ((b" 17 ",), 17), ((b"007",), 7),
    ((b"5, 5",), 5), ((b"5,5,5",), 5), ((b"5", b"5"), 5), ((b"3, 3", b"3"), 3),
    ((b"18446744073709551615",), None),     # fits uint64, then over max_body_size
])
def test_content_length_valid(values, length):
    if length is None:
        bad(cl(*values), 413)
        return
    info = ok(cl(*values))
    assert info["body_kind"] == "length"
    assert info["content_length"] == length


@pytest.mark.parametrize("values", [
    (b"+5",), (b"-5",), (b"0x5",), (b"5_0",), (b"5.0",), (b"5e1",), (b"1 2",), (b"",),
    (b"five",), (b"5, 6",), (b"5", b"6"), (b"5,",), (b",5",), (b"5,,5",),
    (b"18446744073709551616",), (b"99999999999999999999999",), (b"\xd9\xa5",),
])
def test_content_length_invalid_400(values):
    bad(cl(*values), 400)


def test_content_length_on_http10():
    info = ok(cl(b"3", version=b"HTTP/1.0"))
    assert info["content_length"] == 3


# ---- Transfer-Encoding -----------------------------------------------------------------

def te(*values, version=b"HTTP/1.1", extra=()):
    return req(b"POST / " + version,
               (b"Host: h",) + tuple(b"Transfer-Encoding: " + v for v in values) + extra)


@pytest.mark.parametrize("values", [(b"chunked",), (b"Chunked",), (b"CHUNKED",),
                                    (b" chunked ",), (b",chunked",), (b"chunked,",),
                                    (b", ,chunked",)])
def test_transfer_encoding_chunked(values):
    info = ok(te(*values))
    assert info["body_kind"] == "chunked"
    assert info["content_length"] is None


@pytest.mark.parametrize("values,want", [
    ((b"gzip, chunked",), 501),              # unknown coding before chunked: 501 (documented)
    ((b"gzip", b"chunked"), 501),            # the list spans fields
    ((b"deflate,chunked",), 501),
    ((b"chunked, gzip",), 400),              # chunked not final (RFC 9112 6.1)
    ((b"gzip",), 400),
    ((b"chunked", b"gzip"), 400),
    ((b"chunked, chunked",), 400),           # chunked applied twice
    ((b"chunked", b"chunked"), 400),
    ((b"chunked;q=1",), 400),
    ((b"",), 400), ((b",",), 400),
    ((b"chun ked",), 400), ((b"\"chunked\"",), 400),
])
def test_transfer_encoding_rules(values, want):
    bad(te(*values), want)


def test_transfer_encoding_with_content_length_400():
    bad(te(b"chunked", extra=(b"Content-Length: 5",)), 400)
    bad(req(b"POST / HTTP/1.1", (b"Host: h", b"Content-Length: 0",
                                 b"Transfer-Encoding: chunked")), 400)


def test_transfer_encoding_on_http10_400():
    bad(te(b"chunked", version=b"HTTP/1.0"), 400)


# ---- Host --------------------------------------------------------------------------------

@pytest.mark.parametrize("host", [b"example.com", b"example.com:8080", b"h:0", b"h:65535",
                                  b"127.0.0.1", b"[::1]", b"[::1]:80", b"[2001:db8::1]:443",
                                  b"[v1.fe]", b"a%41b", b"xn--bcher-kva.example", b"a_b~c!$&'()*+,;="])
def test_valid_host(host):
    info = ok(req(headers=(b"Host: " + host,)))
    assert (b"Host", host) in info["headers"]


@pytest.mark.parametrize("host", [b"a b", b"a:", b"a:65536", b"a:123456", b"a:x", b"a/b",
                                  b"a@b", b"[::1", b"::1", b"[]", b"a%4", b"a%zz", b"a:80:80",
                                  b"\x80", b":80", b"[::1]x"])
def test_invalid_host_400(host):
    bad(req(headers=(b"Host: " + host,)), 400)


def test_host_required_once_on_http11():
    bad(req(headers=()), 400)
    bad(req(headers=(b"X: y",)), 400)
    bad(req(headers=(b"Host: a", b"Host: a")), 400)
    bad(req(headers=(b"Host: a", b"host: b")), 400)
    info = ok(req(b"GET / HTTP/1.0", ()))
    assert info["headers"] == []
    ok(req(b"GET / HTTP/1.0", (b"Host: a",)))
    bad(req(b"GET / HTTP/1.0", (b"Host: a", b"Host: a")), 400)


# ---- Connection, Expect -----------------------------------------------------------------------

@pytest.mark.parametrize("version,conn,keep", [
    (b"HTTP/1.1", None, True), (b"HTTP/1.1", b"close", False), (b"HTTP/1.1", b"Close", False),
    (b"HTTP/1.1", b"keep-alive", True), (b"HTTP/1.1", b"foo, close", False),
    (b"HTTP/1.0", None, False), (b"HTTP/1.0", b"keep-alive", True),
    (b"HTTP/1.0", b"Keep-Alive", True), (b"HTTP/1.0", b"keep-alive, close", False),
    (b"HTTP/1.0", b"upgrade", False),
])
def test_keep_alive_rules(version, conn, keep):
    hdrs = (b"Host: h",) + ((b"Connection: " + conn,) if conn else ())
    assert ok(req(b"GET / " + version, hdrs))["keep_alive"] is keep


def test_bad_connection_option_400():
    bad(req(headers=(b"Host: h", b"Connection: a b")), 400)


def test_expect_continue():
    assert ok(req(headers=(b"Host: h", b"Expect: 100-continue")))["expect_continue"] is True
    assert ok(req(headers=(b"Host: h", b"Expect: 100-Continue")))["expect_continue"] is True
    assert ok(req(b"GET / HTTP/1.0", (b"Expect: 100-continue",)))["expect_continue"] is False
    assert ok(req(headers=(b"Host: h", b"Expect: other")))["expect_continue"] is False


# ---- limits --------------------------------------------------------------------------------

def test_request_line_limit_414():
    line = b"GET /" + b"a" * 11 + b" HTTP/1.1"          # 25 bytes
    assert len(line) == 25
    ok(req(line), max_request_line=25)
    bad(req(line), 414, max_request_line=24)
    # 414 even before the line ends, as soon as it is over the limit
    assert status(b"GET /" + b"a" * 100, max_request_line=24) == 414
    assert status(b"GET /" + b"a" * 10, max_request_line=24) is None


def test_header_size_limit_431():
    data = req(headers=(b"Host: h", b"X: " + b"v" * 50))
    ok(data, max_header_size=len(data))
    bad(data, 431, max_header_size=len(data) - 1)
    # an unfinished head that already fills the limit is 431, not "need more"
    assert status(data[:-2], max_header_size=len(data) - 2) == 431
    assert status(data[:40], max_header_size=41) is None


def test_header_count_limit_431():
    data = req(headers=(b"Host: h", b"A: 1", b"B: 2"))
    ok(data, max_headers=3)
    bad(data, 431, max_headers=2)


def test_body_size_limit_413():
    ok(cl(b"100"), max_body_size=100)
    bad(cl(b"101"), 413, max_body_size=100)


# ---- chunked bodies --------------------------------------------------------------------

def chunked_ok(data, body, **kw):
    """``data`` is one complete chunked body decoding to ``body``."""
    for k in range(len(data)):
        assert decode_chunked(data[:k], **kw) is None, (k, data[:k])
    assert decode_chunked(data, **kw) == (body, len(data))
    assert decode_chunked(data + NEXT, **kw) == (body, len(data))


def chunked_bad(data, want=400, **kw):
    for k in range(len(data)):
        try:
            r = decode_chunked(data[:k], **kw)
        except HttpParseError as exc:
            assert exc.status == want, (k, data[:k], exc)
        else:
            assert r is None, (k, data[:k])
    with pytest.raises(HttpParseError) as ei:
        decode_chunked(data, **kw)
    assert ei.value.status == want


@pytest.mark.parametrize("data,body", [
    (b"0\r\n\r\n", b""),
    (b"5\r\nhello\r\n0\r\n\r\n", b"hello"),
    (b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", b"hello world"),
    (b"A\r\n0123456789\r\n0\r\n\r\n", b"0123456789"),
    (b"a\r\n0123456789\r\n0\r\n\r\n", b"0123456789"),
    (b"000a\r\n0123456789\r\n000\r\n\r\n", b"0123456789"),
    (b"1F\r\n" + b"x" * 31 + b"\r\n0\r\n\r\n", b"x" * 31),
    (b"3\r\n\r\n\r\r\n0\r\n\r\n", b"\r\n\r"),              # CRLF inside data is data
])
def test_chunked_valid(data, body):
    chunked_ok(data, body)


@pytest.mark.parametrize("ext", [b";a", b";a=b", b";a=\"q \\\" ;\"", b"; a = b", b" ;a",
                                 b";a;b=c;d=\"\"", b"\t;a=b", b";a=\"\xe9\""])
def test_chunk_extensions_accepted(ext):
    chunked_ok(b"3" + ext + b"\r\nabc\r\n0" + ext + b"\r\n\r\n", b"abc")


@pytest.mark.parametrize("ext", [b";", b";=b", b";a=", b";a b", b";a=b c", b";a=\"x", b";a=\"x\rb\"",
                                 b";a\nb", b";a=\"x\nb\"", b" ", b";a=\"\x01\"", b";a\x00",
                                 b" x", b";a=(b)", b";a=b ", b";a "])
def test_chunk_extensions_rejected(ext):
    chunked_bad(b"3" + ext + b"\r\nabc\r\n0\r\n\r\n")


def test_chunk_extension_length_bounded():
    chunked_ok(b"1;" + b"a" * 4000 + b"\r\nx\r\n0\r\n\r\n", b"x")
    chunked_bad(b"1;" + b"a" * 5000 + b"\r\nx\r\n0\r\n\r\n")


@pytest.mark.parametrize("data", [
    b"\r\n", b"g\r\n", b"-1\r\n", b"0x5\r\nhello\r\n0\r\n\r\n", b"+5\r\nhello\r\n0\r\n\r\n",
    b"5\nhello\r\n0\r\n\r\n",                      # bare LF after the size
    b"5\rhello\r\n0\r\n\r\n",                      # bare CR after the size
    b"5\r\nhelloX\r\n0\r\n\r\n",                   # data longer than the size
    b"5\r\nhello\n0\r\n\r\n",                      # no CR after the data
    b"5\r\nhello\r0\r\n\r\n",                      # no LF after the data
    b"5\r\nhell\r\n0\r\n\r\n\r\n",                 # data shorter: CR LF taken as data, then junk
    b"0\r\n\n", b"0\r\n\rX", b"0\r\nX-T: v\n\r\n",
    b"1 2\r\nx\r\n0\r\n\r\n",
    b"00000000000000001\r\nx\r\n0\r\n\r\n",        # 17 hex digits: overflow guard
    b"10000000000000000\r\n",
])
def test_chunked_rejected(data):
    chunked_bad(data)


def test_chunk_size_overflow_and_limit():
    chunked_bad(b"FFFFFFFFFFFFFFFF\r\n", 413)          # 16 digits: fits, but over the limit
    chunked_bad(b"FFFFFFFFFFFFFFFFF\r\n", 400)         # 17 digits: overflow
    chunked_ok(b"8\r\n12345678\r\n0\r\n\r\n", b"12345678", max_body_size=8)
    chunked_bad(b"5\r\nhello\r\n4\r\nabcd\r\n0\r\n\r\n", 413, max_body_size=8)
    chunked_bad(b"9\r\n", 413, max_body_size=8)


def test_trailers():
    chunked_ok(b"3\r\nabc\r\n0\r\nX-Checksum: 1\r\nX-Other:\tv v\r\n\r\n", b"abc")
    chunked_ok(b"0\r\nX-Obs: \xe9\r\n\r\n", b"")


@pytest.mark.parametrize("name", [b"Content-Length", b"content-length", b"CONTENT-LENGTH",
                                  b"Transfer-Encoding", b"Host", b"Connection", b"Trailer",
                                  b"TE", b"Content-Type", b"Content-Encoding", b"Expect",
                                  b"Upgrade", b"Authorization", b"Cookie", b"Range"])
def test_trailers_never_set_framing_or_routing_fields(name):
    chunked_bad(b"3\r\nabc\r\n0\r\n" + name + b": 5\r\n\r\n")


@pytest.mark.parametrize("trailer", [b"X-T : v", b": v", b" X: v", b"X-T v", b"X-T: a\x00b",
                                     b"X-T: a\rb", b"X(T): v"])
def test_bad_trailer_lines(trailer):
    chunked_bad(b"3\r\nabc\r\n0\r\n" + trailer + b"\r\n\r\n")


def test_trailer_size_limit_431():
    chunked_ok(b"0\r\nX: " + b"v" * 50 + b"\r\n\r\n", b"", max_trailer_size=60)
    chunked_bad(b"0\r\nX: " + b"v" * 100 + b"\r\n\r\n", 431, max_trailer_size=60)


def test_final_crlf_required():
    assert decode_chunked(b"5\r\nhello\r\n0\r\n") is None
    assert decode_chunked(b"5\r\nhello\r\n0\r\nX: y\r\n") is None
    assert decode_chunked(b"5\r\nhello\r\n0\r\n\r") is None
    assert decode_chunked(b"5\r\nhello\r\n0\r\n\r\n") == (b"hello", 15)


def test_chunked_big_body_keeps_pipelined_bytes():
    payload = bytes(range(256)) * 300
    parts = [b"%x\r\n%s\r\n" % (len(payload[i:i + 7000]), payload[i:i + 7000])
             for i in range(0, len(payload), 7000)]
    data = b"".join(parts) + b"0\r\n\r\n"
    assert decode_chunked(data + NEXT) == (payload, len(data))


# ---- the C tests (ASan/UBSan) ---------------------------------------------------------------

def test_c_parser_tests_under_sanitizers():
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    script = os.path.join(ROOT, "csrc", "run_c_tests.sh")
    proc = subprocess.run(["sh", script, "20000"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    m = re.search(r"^(\d+) passed, (\d+) failed$", proc.stdout, re.M)
    assert m, out[-4000:]
    assert int(m.group(1)) > 0 and m.group(2) == "0", out[-4000:]
    assert "runtime error" not in out and "AddressSanitizer" not in out
