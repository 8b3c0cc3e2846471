#!/usr/bin/env python3
"""Writes the hand-made seeds of the fuzz targets (tests/fuzz/corpus/<target>/seed-*).

The seeds are valid and edge-case inputs in each target's input format
(described at the top of fuzz_<target>.c), built from the messages the
tests send and the answers doc/msg91-api.md describes. The corpora also hold
inputs the fuzzers found (named by their SHA-1), kept by `-merge=1` because
they reach new code. Run from anywhere: python3 tests/fuzz/seeds.py
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
VERSIONS = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"]


def write(target, name, data, where="corpus"):
    folder = os.path.join(HERE, where, target)
    os.makedirs(folder, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    if where == "corpus":
        name = "seed-" + name
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def msg(id_, method, params=None):
    m = {"jsonrpc": "2.0", "method": method}
    if id_ is not None:
        m["id"] = id_
    if params is not None:
        m["params"] = params
    return json.dumps(m, separators=(",", ":"))


def init(version="2025-11-25"):
    return [
        msg(0, "initialize", {"protocolVersion": version, "capabilities": {},
                              "clientInfo": {"name": "fuzz", "version": "1"}}),
        msg(None, "notifications/initialized"),
    ]


def call(id_, name, args, meta=None):
    params = {"name": name, "arguments": args}
    if meta:
        params["_meta"] = meta
    return msg(id_, "tools/call", params)


TOOL_ARGS = {
    "send_otp": {"mobile": "+919876543210", "template_id": "tmpl_1", "otp": "4321",
                 "otp_length": 4, "otp_expiry": 5, "variables": {"name": "Asha"}},
    "resend_otp": {"mobile": "+919876543210", "retry_type": "voice"},
    "verify_otp": {"mobile": "+919876543210", "otp": "4321"},
    "send_sms_flow": {"template_id": "flow-1", "short_url": True, "realtime_response": True,
                      "recipients": [{"mobiles": "919876543210", "name": "Asha"},
                                     {"mobiles": "+14155550123"}]},
    "create_user_events": {"identifier": "asha@example.com",
                           "events": [{"name": "login", "timestamp": "2026-01-01T05:30:00+05:30",
                                       "properties": {"plan": "pro", "n": [1, 2]}},
                                      {"name": "purchase"}]},
    "get_event_types": {},
    "get_failed_events": {"campaign_id": "1032", "page": 1, "limit": 5,
                          "start_date": "2026-01-01", "end_date": "2026-12-31"},
    "list_campaigns": {"page": 2, "limit": 10},
}


def session(byte0, lines, tail="\n"):
    return bytes([byte0]) + ("\n".join(lines) + tail).encode()


def session_seeds():
    for i, v in enumerate(VERSIONS):
        write("session", "handshake-%s" % v,
              session(0, init(v) + [msg(1, "tools/list"), msg(2, "ping")]))
    for name, args in TOOL_ARGS.items():
        write("session", "call-" + name,
              session(0, init() + [call(1, name, args, {"progressToken": "p1"})]))
        write("session", "dry-" + name, session(1, init("2025-06-18") + [call(1, name, args)]))
    write("session", "otp-roundtrip", session(0, init() + [
        call(1, "send_otp", TOOL_ARGS["send_otp"]),
        call(2, "resend_otp", TOOL_ARGS["resend_otp"]),
        call(3, "verify_otp", {"mobile": "919876543210", "otp": "0000"}),
        call(4, "verify_otp", TOOL_ARGS["verify_otp"]),
        call(5, "verify_otp", TOOL_ARGS["verify_otp"])]))
    write("session", "no-key", session(2, init() + [call(1, "list_campaigns", {}),
                                                     call(2, "send_otp", TOOL_ARGS["send_otp"])]))
    write("session", "scoped", session(3, init() + [
        msg(1, "tools/list"), call(2, "msg91_list_campaigns", {"page": 1}),
        call(3, "msg91_send_otp", TOOL_ARGS["send_otp"]), call(4, "list_campaigns", {})]))
    write("session", "too-long-line", session(3, init() + [
        call(1, "msg91_get_failed_events", {"campaign_id": "x" * 400}), msg(2, "ping")]))
    write("session", "batch", session(0, init("2025-03-26") + [
        "[" + msg(1, "ping") + "," + call(2, "get_event_types", {}) + ","
        + msg(None, "notifications/cancelled", {"requestId": 2}) + "]", "[]", "[1]"]))
    write("session", "cancel-and-level", session(0, init() + [
        msg(1, "logging/setLevel", {"level": "debug"}),
        call(2, "list_campaigns", {"page": 1}, {"progressToken": 7}),
        msg(None, "notifications/cancelled", {"requestId": 2, "reason": "user"}),
        msg(3, "ping")]))
    write("session", "invalid-args", session(0, init() + [
        call(1, "send_otp", {"mobile": "12"}), call(2, "verify_otp", {"otp": 12}),
        call(3, "nope", {}), msg(4, "tools/call", {"name": 5}),
        call(5, "get_failed_events", {"campaign_id": ".."})]))
    write("session", "garbage", session(0, init() + [
        "{not json", "", "\r", "null", "{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"ping\"}",
        msg("x" * 70, "ping"), msg(123456789012345678901234567890, "ping")]))
    write("session", "before-initialize", session(0, [
        msg(1, "tools/list"), msg(2, "ping"), msg(3, "initialize", {"protocolVersion": "1999-01-01"})]))
    write("session", "bigint-args", session(1, init() + [
        call(1, "list_campaigns", {"page": 3, "limit": 5},
             {"progressToken": 123456789012345678901234567890})]))
    # The same session cut into small reads, and CRLF line ends.
    write("session", "chunked", session(0x40 | 0x20, init() + [call(1, "get_event_types", {})]))
    write("session", "crlf", bytes([0x20]) + "\r\n".join(init() + [msg(1, "ping")]).encode())
    # The sandbox misbehaving, one rule per seed (bits 2-4).
    # Rule 5 leaks half the key (a finding not fixed yet): kept in pending/.
    for rule in range(1, 8):
        data = session(rule << 2, init() + [
            call(1, "send_otp", TOOL_ARGS["send_otp"]),
            call(2, "send_sms_flow", TOOL_ARGS["send_sms_flow"]),
            call(3, "list_campaigns", {})])
        if rule == 5:
            write("session", "key-prefix-escaped-message", data, "pending")
        else:
            write("session", "misbehave-%d" % rule, data)


def schema_seeds():
    cases = [
        ("type", {"type": "object", "required": ["a"], "properties": {"a": {"type": "integer"}}},
         {"a": "x"}),
        ("ref-defs", {"$defs": {"n": {"type": "number", "minimum": 0}},
                      "items": {"$ref": "#/$defs/n"}}, [1, -1, 2.5]),
        ("anyof", {"anyOf": [{"type": "string", "maxLength": 3}, {"const": 1}]}, "abcd"),
        ("oneof", {"oneOf": [{"multipleOf": 3}, {"multipleOf": 5}]}, 15),
        ("pattern", {"patternProperties": {"^x-": {"type": "string"}},
                     "additionalProperties": False}, {"x-a": 1, "b": 2}),
        ("formats", {"properties": {"d": {"format": "date"}, "t": {"format": "date-time"},
                                    "e": {"format": "email"}, "u": {"format": "uri"},
                                    "i": {"format": "ipv6"}, "r": {"format": "regex"}}},
         {"d": "2026-02-30", "t": "2026-01-01T00:00:60Z", "e": "a@", "u": "x",
          "i": "::1::", "r": "(["}),
        ("unevaluated", {"allOf": [{"properties": {"a": True}}],
                         "unevaluatedProperties": False}, {"a": 1, "b": 2}),
        ("dynamic", {"$id": "https://example.com/tree", "$dynamicAnchor": "node",
                     "type": "object",
                     "properties": {"kids": {"type": "array",
                                             "items": {"$dynamicRef": "#node"}}}},
         {"kids": [{"kids": [1]}]}),
        ("contains", {"contains": {"type": "null"}, "minContains": 2, "maxContains": 3,
                      "uniqueItems": True}, [None, None, 1]),
        ("if-then", {"if": {"required": ["a"]}, "then": {"required": ["b"]},
                     "else": {"maxProperties": 0}, "dependentRequired": {"c": ["d"]}},
         {"a": 1, "c": 2}),
        ("bool-false", False, 1),
        ("meta", {"$ref": "https://json-schema.org/draft/2020-12/schema"},
         {"type": 12}),
        ("deep-instance", {"items": {"$ref": "#"}}, [[[[[[[[[[[]]]]]]]]]]]),
        ("prefix-items", {"prefixItems": [{"type": "string"}], "items": False},
         ["a", 1]),
        ("big-numbers", {"maximum": 1e308, "multipleOf": 1e-308},
         123456789012345678901234567890),
    ]
    for flags, (name, schema, instance) in zip(range(0, 256, 17), cases):
        write("schema", name, bytes([flags]) + (json.dumps(schema) + " "
                                                + json.dumps(instance)).encode())
    for f in sorted(os.listdir(os.path.join(HERE, "..", "..", "schemas"))):
        if f.endswith(".input.json"):
            tool = f[:-len(".input.json")]
            text = open(os.path.join(HERE, "..", "..", "schemas", f)).read()
            write("schema", "tool-" + tool, b"\x01" + (text + "\n"
                                                      + json.dumps(TOOL_ARGS[tool])).encode())


TOOLS = ["send_otp", "resend_otp", "verify_otp", "send_sms_flow", "create_user_events",
         "get_event_types", "get_failed_events", "list_campaigns"]
FAMILY2_OK = {"status": "success", "hasError": False, "errors": []}


def answer(tool, body, status_index=0, outcome=0, retry=0, flags=0,
           content_type="application/json", error=""):
    head = bytes([TOOLS.index(tool), outcome, status_index, 0, retry, flags])
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    return head + (content_type + "\n" + error + "\n" + body).encode()


def answer_seeds():
    ok = {
        "send_otp": {"type": "success", "request_id": "3763646c3058313035373338"},
        "resend_otp": {"type": "success", "message": "retry send successfully"},
        "verify_otp": {"type": "success", "message": "OTP verified success"},
        "send_sms_flow": {"type": "success", "message": "3763646c3058313035373339"},
        "create_user_events": dict(FAMILY2_OK, data={"accepted": 2}),
        "get_event_types": dict(FAMILY2_OK, data=[{"id": "1", "name": "login",
                                                   "description": "Signed in"}]),
        "get_failed_events": dict(FAMILY2_OK, data={"failedEvents": [
            {"eventId": "e1", "reason": "visitor_id not found in phonebook",
             "recipient": "919876543210", "timestamp": "2026-01-01T00:00:00Z"}],
            "page": 1, "limit": 10, "total": 1}),
        "list_campaigns": dict(FAMILY2_OK, data={"data": [
            {"id": 123, "name": "Welcome", "is_active": True, "slug": "welcome-abc",
             "channels": [{"campaign_id": 123, "channel_id": 1, "count": 2}]}],
            "itemsPerPage": 25, "pageNo": 1, "pageNumber": 1, "totalEntityCount": 1,
            "totalPageCount": 1}),
    }
    # Older spellings the readers accept (doc/msg91-api.md).
    variants = {
        "send_sms_flow": {"type": "success", "request_id": "abc"},
        "create_user_events": dict(FAMILY2_OK, data={"message": "queued"}),
        "get_event_types": dict(FAMILY2_OK, data={"eventTypes": [{"event_id": 7,
                                                                   "event_name": "signup"}]}),
        "get_failed_events": dict(FAMILY2_OK, data={"failed_events": [
            {"event_id": 9, "reason": "x"}]}),
        "list_campaigns": dict(FAMILY2_OK, data={"data": [
            {"id": "77", "name": "Old", "is_active": "1", "channels": "1,2"},
            {"id": 78, "name": "Older", "is_active": 0, "channels": [3]}]}),
        "verify_otp": {"type": "error", "message": "OTP not match"},
        "resend_otp": {"type": "error", "message": "OTP retry count maxed out"},
        "send_otp": {"type": "error", "message": "The provided flow ID or template ID is invalid."},
    }
    for t in TOOLS:
        write("answer", "ok-" + t, answer(t, ok[t]))
        write("answer", "alt-" + t, answer(t, variants[t], flags=4))
    statuses = {"401": 6, "404": 8, "413": 11, "422": 12, "429": 13, "500": 14, "503": 16}
    write("answer", "401", answer("list_campaigns", {"status": "fail", "hasError": True,
                                                     "errors": "Unauthorized", "code": "401",
                                                     "apiError": "201"}, statuses["401"]))
    write("answer", "route-missing", answer("get_event_types",
                                            {"type": "error", "msg": "Route Missing"},
                                            statuses["404"]))
    write("answer", "campaign-not-found", answer("get_failed_events",
                                                 {"status": "fail", "hasError": True,
                                                  "errors": "Campaign not found"},
                                                 statuses["404"]))
    write("answer", "413", answer("send_sms_flow", "", statuses["413"], content_type="text/html"))
    write("answer", "422-field-errors", answer("create_user_events", {
        "status": "fail", "hasError": True, "errors": {"data": ["The data field is required."]}},
        statuses["422"]))
    write("answer", "429-retry", answer("list_campaigns", {"message": "Too many Attempts"},
                                        statuses["429"], retry=1))
    write("answer", "500-html", answer("send_otp", "<html>oops</html>", statuses["500"],
                                       content_type="text/html; charset=utf-8"))
    write("answer", "503-huge-retry", answer("verify_otp", "", statuses["503"], retry=3, flags=1))
    write("answer", "invalid-key", answer("send_otp", {"message": "Invalid authkey",
                                                       "type": "error", "code": "201"}))
    write("answer", "key-missing", answer("resend_otp",
                                          {"type": "error", "message": "Auth Key missing"}))
    write("answer", "escaped-message", answer("send_otp", {
        "type": "error", "message": "\u00e9\u0000\u2028" + "x" * 320, "request_id": "r\u0001"}))
    write("answer", "not-object", answer("get_event_types", "[1,2,3]"))
    write("answer", "bigint", answer("list_campaigns", '{"data":{"data":[{"id":'
                                     '123456789012345678901234567890,"name":"x"}]},'
                                     '"status":"success"}'))
    write("answer", "raw-status", bytes([7, 0, 255, 255, 0, 0]) + b"\n\n{}")
    for outcome, name in enumerate(["timeout", "dns", "connect", "tls", "reset",
                                    "too-large", "failed"], start=1):
        write("answer", "outcome-" + name, answer(TOOLS[outcome], "", 0, 128 + outcome,
                                                  flags=2 * (outcome % 2),
                                                  error="curl says: " + name))


def config_seeds():
    def cfg(name, file_text, *entries):
        parts = [file_text.encode()] + [e.encode() for e in entries]
        write("config", name, b"\0".join(parts))

    cfg("full", json.dumps({
        "base_url": "https://control.msg91.com/", "otp_template_id": "tmpl_1",
        "timeout_ms": 2000, "tools": ["send_otp", "verify_otp", "list_campaigns"],
        "read_only": False, "dry_run": True, "log_level": "debug", "max_inflight": 4,
        "tool_prefix": "msg91_", "max_line_bytes": 4096,
        "endpoints": {"get_failed_events": {"method": "GET",
                                            "path": "/api/v5/campaigns/{campaign_id}/failed"},
                      "create_user_events": {"path": "/v1/events/"}}}),
        "MSG91_AUTH_KEY=abcdefghijklmnop0123")
    cfg("tools-string", '{"tools":"get_event_types, list_campaigns","read_only":"yes"}',
        "MSG91_AUTH_KEY=abcdefghijklmnop0123")
    cfg("loopback", '{"base_url":"http://127.0.0.1:18500"}', "MSG91_DRY_RUN=1")
    cfg("loopback-v6", '{"base_url":"http://[::1]:8080/"}', "--read-only")
    cfg("localhost", "", "MSG91_BASE_URL=http://localhost:9", "MSG91_AUTH_KEY=0123456789abcdef")
    cfg("not-loopback", '{"base_url":"http://example.com"}')
    cfg("env-only", "", "MSG91_TOOLS=send_otp,resend_otp", "MSG91_TIMEOUT_MS=100",
        "MSG91_MAX_INFLIGHT=10000", "MSG91_LOG_LEVEL=warn", "MSG91_TOOL_PREFIX=a-b_C9",
        "MSG91_OTP_TEMPLATE_ID=", "MSG91_READ_ONLY=off", "MSG91_MAX_LINE_BYTES=1024")
    cfg("flags", '{"dry_run":true}', "--timeout-ms=600000", "--tools", "--max-inflight",
        "--base-url=https://x.example", "--dry-run", "--sandbox", "--", "--tools=zzz")
    cfg("refused-flag", "{}", "--auth-key=abc")
    cfg("both-keys", "{}", "MSG91_AUTH_KEY=abcdefghijkl", "MSG91_AUTH_KEY_FILE=/nonexistent")
    cfg("short-key", "{}", "MSG91_AUTH_KEY=key")
    cfg("bad-values", '{"timeout_ms":99,"read_only":"maybe"}')
    cfg("bad-types", '{"timeout_ms":[1],"tools":{"a":1},"endpoints":[]}')
    cfg("unknown-key", '{"auth_key":"x","nope":1}')
    cfg("endpoint-bad", '{"endpoints":{"send_otp":{"method":"TRACE","path":"/a?b"}}}')
    cfg("endpoint-unknown", '{"endpoints":{"nope":{"path":"/x"}}}')
    cfg("not-object", "[1,2]")
    cfg("not-json", "{\"base_url\":")
    cfg("empty-tools", '{"tools":[]}', "MSG91_READ_ONLY=1")
    cfg("ca-missing", "{}", "MSG91_CA_FILE=/nonexistent/ca.pem")
    cfg("prefix-bad", '{"tool_prefix":"a b"}')
    cfg("bigint", '{"timeout_ms":123456789012345678901234567890,"max_inflight":-1}')
    cfg("base-odd", '{"base_url":"https://"}', "MSG91_BASE_URL=https://h/p?q#f")


def main():
    session_seeds()
    schema_seeds()
    answer_seeds()
    config_seeds()
    return 0


if __name__ == "__main__":
    sys.exit(main())
