// A scripted raw stdio session per protocol version. Every line the server
// writes is checked against the official MCP schema of the negotiated
// version, as the definition it has to be, and ids must come back as the
// exact text that was sent.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { RawSession, McpSchema, VERSIONS, TOOLS, serverEnv, topLevelRaw, toolSchemaAjv, startSandbox, sandboxControl } from './lib.mjs';

const BIG_ID = '9007199254740993'; // 2^53 + 1: not representable as a double

function parseLine(line) {
  assert.notEqual(line.trim(), '', 'the server wrote a blank line');
  assert.equal(line, line.trim(), `line has leading/trailing white space: ${JSON.stringify(line)}`);
  try {
    return JSON.parse(line);
  } catch (e) {
    assert.fail(`the server wrote a line that is not JSON: ${line}`);
  }
}

function assertValid(schema, def, value, line) {
  const errors = schema.errors(def, value);
  if (errors)
    assert.fail(`${schema.version}: not a valid ${def}:\n  ${errors}\nline: ${line}`);
}

// Every notification as a JSONRPCNotification, a ServerNotification and the
// definition of its method.
function checkNotifications(schema, lines) {
  const byMethod = {
    'notifications/message': 'LoggingMessageNotification',
    'notifications/progress': 'ProgressNotification',
  };
  const parsed = [];
  for (const line of lines) {
    const m = parseLine(line);
    assertValid(schema, 'JSONRPCNotification', m, line);
    // The notification definitions allow extra members, and from
    // 2025-11-25 they require jsonrpc, so the whole message is checked.
    assertValid(schema, 'ServerNotification', m, line);
    const def = byMethod[m.method];
    assert.ok(def, `unexpected notification ${m.method}: ${line}`);
    assertValid(schema, def, m, line);
    parsed.push(m);
  }
  return parsed;
}

// A successful response: envelope, exact id text, result definition.
function expectResult(schema, line, idRaw, resultDef) {
  const m = parseLine(line);
  assert.ok(!Array.isArray(m), `expected one response, got a batch: ${line}`);
  assert.equal(topLevelRaw(line, 'id'), idRaw, `id not echoed exactly: ${line}`);
  assert.ok(!('error' in m), `expected a result, got an error: ${line}`);
  assertValid(schema, schema.resultDef, m, line);
  assertValid(schema, resultDef, m.result, line);
  return m.result;
}

// An error response: envelope, exact id text, exact code.
function expectError(schema, line, idRaw, code) {
  const m = parseLine(line);
  assert.ok(!Array.isArray(m), `expected one response, got a batch: ${line}`);
  assert.equal(topLevelRaw(line, 'id'), idRaw, `id not echoed exactly: ${line}`);
  assertValid(schema, schema.errorDef, m, line);
  assert.equal(m.error.code, code, `wrong error code: ${line}`);
  assert.equal(typeof m.error.message, 'string');
  assert.ok(m.error.message.length > 0);
  return m.error;
}

// An error answering a message whose id could not be read (parse error,
// rejected batch). JSON-RPC 2.0 (section 5) says its id is null. The MCP
// schemas before 2025-11-25 require a string or integer id on every error
// (no valid form exists there), so for them the error member is checked
// against the schema and the id must be the JSON-RPC null. From 2025-11-25
// the schema makes the id optional (and still forbids null): the whole
// line must validate as JSONRPCErrorResponse.
function expectIdlessError(schema, line, code) {
  const m = parseLine(line);
  assert.ok(!Array.isArray(m), `expected one response, got a batch: ${line}`);
  const idRequired = (schema.defs[schema.errorDef].required || []).includes('id');
  if (idRequired) {
    assert.deepEqual(Object.keys(m).sort(), ['error', 'id', 'jsonrpc'], line);
    assert.equal(m.jsonrpc, '2.0');
    assert.equal(m.id, null, `an unreadable request must be answered with id null: ${line}`);
    const errors = schema.ajv.validate({ $ref: `mcp#/${schema.defsKey}/${schema.errorDef}/properties/error` }, m.error)
      ? null
      : schema.ajv.errorsText();
    assert.equal(errors, null, `error member invalid: ${line}`);
  } else {
    assertValid(schema, schema.errorDef, m, line);
  }
  assert.equal(m.error.code, code, `wrong error code: ${line}`);
  return m.error;
}

for (const version of VERSIONS) {
  describe(`raw stdio session, protocol ${version}`, () => {
    let s;
    let schema;
    let tools;
    let sandbox;
    const ajv2020 = toolSchemaAjv();

    // A standalone sandbox, so that a test can make it slow.
    before(async () => {
      schema = new McpSchema(version);
      sandbox = await startSandbox();
      s = new RawSession([], serverEnv({ MSG91_BASE_URL: sandbox.url, MSG91_AUTH_KEY: 'raw-test-key' }));
    });

    after(async () => {
      if (s) await s.close();
      await sandbox?.stop();
    });

    it('rejects a request before initialize (-32600)', async () => {
      s.send('{"jsonrpc":"2.0","id":"before-init","method":"tools/list"}');
      const { line, notifications } = await s.response();
      assert.deepEqual(notifications, []);
      expectError(schema, line, '"before-init"', -32600);
    });

    it('answers server/discover before initialize with -32601', async () => {
      s.send({ jsonrpc: '2.0', id: 'discover', method: 'server/discover', params: { _meta: {} } });
      const { line } = await s.response();
      expectError(schema, line, '"discover"', -32601);
    });

    it('initializes with id 0 and echoes the version', async () => {
      s.send({
        jsonrpc: '2.0',
        id: 0,
        method: 'initialize',
        params: { protocolVersion: version, capabilities: {}, clientInfo: { name: 'raw-test', version: '1.0.0' } },
      });
      const { line, notifications } = await s.response();
      assert.deepEqual(notifications, []);
      const r = expectResult(schema, line, '0', 'InitializeResult');
      assert.equal(r.protocolVersion, version);
      assert.equal(r.serverInfo.name, 'msg91-mcp');
      assert.match(r.serverInfo.version, /^\d+\.\d+\.\d+/);
      assert.deepEqual(r.capabilities, { tools: { listChanged: false }, logging: {} });
      assert.match(r.instructions, /send_otp/);
      s.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    });

    it(`pings with id ${BIG_ID} (same digits back, nothing for the notification)`, async () => {
      s.send(`{"jsonrpc":"2.0","id":${BIG_ID},"method":"ping"}`);
      const { line, notifications } = await s.response();
      assert.deepEqual(notifications, []);
      const r = expectResult(schema, line, BIG_ID, 'EmptyResult');
      assert.deepEqual(r, {});
    });

    it('lists the eight tools (string id with escapes and non-ASCII)', async () => {
      const idRaw = '"tools \\"list\\" \u00e9\u4e2d"';
      s.send(`{"jsonrpc":"2.0","id":${idRaw},"method":"tools/list"}`);
      const { line } = await s.response();
      const r = expectResult(schema, line, idRaw, 'ListToolsResult');
      tools = r.tools;
      assert.deepEqual(tools.map((t) => t.name), TOOLS.map((t) => t.name));
      assert.equal(r.nextCursor, undefined);
      for (const [i, t] of tools.entries()) {
        assertValid(schema, 'Tool', t, JSON.stringify(t));
        const want = TOOLS[i];
        assert.equal(typeof t.description, 'string');
        assert.equal(t.inputSchema.type, 'object');
        assert.equal(t.inputSchema.additionalProperties, false, `${t.name}: inputSchema must set additionalProperties:false`);
        if (version >= '2025-06-18') {
          assert.equal(t.title, want.title);
          assert.equal(t.outputSchema?.type, 'object', `${t.name}: outputSchema`);
        } else {
          assert.equal(t.title, undefined, `${t.name}: title is not in ${version}`);
          assert.equal(t.outputSchema, undefined, `${t.name}: outputSchema is not in ${version}`);
        }
        if (version >= '2025-03-26') {
          assert.deepEqual(t.annotations, {
            title: want.title,
            readOnlyHint: want.readOnly,
            destructiveHint: want.destructive,
            idempotentHint: want.idempotent,
            openWorldHint: true,
          });
        } else {
          assert.equal(t.annotations, undefined, `${t.name}: annotations are not in ${version}`);
        }
      }
    });

    it('tool schemas compile with Ajv (JSON Schema 2020-12)', () => {
      assert.ok(tools, 'tools/list did not answer');
      for (const t of tools) {
        assert.doesNotThrow(() => ajv2020.compile(t.inputSchema), `${t.name}.inputSchema`);
        if (t.outputSchema) assert.doesNotThrow(() => ajv2020.compile(t.outputSchema), `${t.name}.outputSchema`);
      }
    });

    it('tools/call with invalid arguments is an isError result listing every violation', async () => {
      s.send({
        jsonrpc: '2.0',
        id: -1,
        method: 'tools/call',
        params: { name: 'send_otp', arguments: { mobile: '12', template_id: 't', otp_length: 12, extra: 1 } },
      });
      const { line } = await s.response();
      const r = expectResult(schema, line, '-1', 'CallToolResult');
      assert.equal(r.isError, true);
      assert.equal(r.content.length, 1);
      assert.equal(r.content[0].type, 'text');
      const text = r.content[0].text;
      assert.match(text, /\/mobile: does not match \^\\\+\?\[0-9\]\{8,15\}\$/);
      assert.match(text, /\/otp_length: must be at most 9/);
      assert.match(text, /extra/);
      assert.equal(r.structuredContent, undefined);
    });

    it('tools/call of an unknown tool is -32602', async () => {
      s.send({ jsonrpc: '2.0', id: 'unknown-tool', method: 'tools/call', params: { name: 'no_such_tool', arguments: {} } });
      const { line } = await s.response();
      const e = expectError(schema, line, '"unknown-tool"', -32602);
      assert.match(e.message, /no_such_tool/);
    });

    it('an unknown method is -32601', async () => {
      s.send({ jsonrpc: '2.0', id: 77, method: 'resources/list' });
      const a = await s.response();
      expectError(schema, a.line, '77', -32601);
      s.send({ jsonrpc: '2.0', id: 78, method: 'foo/bar', params: {} });
      const b = await s.response();
      expectError(schema, b.line, '78', -32601);
    });

    it('a line that is not JSON is a parse error (-32700)', async () => {
      s.send('{"jsonrpc":"2.0","id":5,"method":');
      const { line } = await s.response();
      expectIdlessError(schema, line, -32700);
      // The session carries on.
      s.send('{"jsonrpc":"2.0","id":"after-parse-error","method":"ping"}');
      const next = await s.response();
      expectResult(schema, next.line, '"after-parse-error"', 'EmptyResult');
    });

    it('logging/setLevel debug, then a slow call emits valid log and progress notifications', async () => {
      s.send({ jsonrpc: '2.0', id: 'lvl', method: 'logging/setLevel', params: { level: 'debug' } });
      const a = await s.response();
      assert.deepEqual(expectResult(schema, a.line, '"lvl"', 'EmptyResult'), {});
      checkNotifications(schema, a.notifications);
      // Progress is held back until a call has been waiting a while (a
      // quick call gets none), so the upstream takes its time here.
      await sandboxControl(sandbox.url, 'misbehave', {
        method: 'POST',
        body: { tool: 'list_campaigns', delay_ms: 1000, count: 1 },
      });

      s.send({
        jsonrpc: '2.0',
        id: 'campaigns',
        method: 'tools/call',
        params: { name: 'list_campaigns', arguments: { limit: 2 }, _meta: { progressToken: 'pt-1' } },
      });
      // Lines are read as they arrive: the progress notification must come
      // while the call waits (after the 250 ms hold, long before the 1 s
      // upstream answers), not in the same read as the result.
      const b = { notifications: [] };
      let progressAt = null;
      for (;;) {
        const line = await s.nextLine(10000);
        const at = Date.now();
        if (!line.includes('"method":"notifications/')) {
          b.line = line;
          b.at = at;
          break;
        }
        b.notifications.push(line);
        if (line.includes('notifications/progress')) progressAt ??= at;
      }
      assert.ok(progressAt !== null, 'no notifications/progress for a call with a progress token');
      assert.ok(b.at - progressAt >= 300, `progress arrived only ${b.at - progressAt} ms before the result`);
      const r = expectResult(schema, b.line, '"campaigns"', 'CallToolResult');
      assert.notEqual(r.isError, true, `list_campaigns failed: ${b.line}`);
      assert.equal(r.content[0].type, 'text');
      const fromText = JSON.parse(r.content[0].text);
      assert.ok(Array.isArray(fromText.campaigns), b.line);
      assert.equal(fromText.page, 1);
      // structuredContent exists only from 2025-06-18; older versions get the
      // same JSON in the text block alone.
      if (version >= '2025-06-18') {
        assert.deepEqual(fromText, r.structuredContent);
      } else {
        assert.equal(r.structuredContent, undefined, b.line);
      }
      const out = tools?.find((t) => t.name === 'list_campaigns')?.outputSchema;
      if (out) {
        const v = ajv2020.compile(out);
        assert.ok(v(fromText), `result vs outputSchema: ${ajv2020.errorsText(v.errors)}`);
      }
      const notes = checkNotifications(schema, b.notifications);
      const logs = notes.filter((n) => n.method === 'notifications/message');
      const progress = notes.filter((n) => n.method === 'notifications/progress');
      assert.ok(logs.length >= 1, 'no notifications/message at level debug');
      for (const n of logs) assert.equal(n.params.level, 'debug');
      assert.ok(progress.length >= 1, 'no notifications/progress for a call with a progress token');
      let last = -Infinity;
      for (const n of progress) {
        assert.equal(n.params.progressToken, 'pt-1');
        assert.ok(n.params.progress > last, 'progress must increase');
        last = n.params.progress;
      }
      s.send({ jsonrpc: '2.0', id: 'lvl2', method: 'logging/setLevel', params: { level: 'emergency' } });
      const c = await s.response();
      expectResult(schema, c.line, '"lvl2"', 'EmptyResult');
      // Nothing for the call may come after its result.
      const late = checkNotifications(schema, c.notifications).filter((n) => n.method === 'notifications/progress');
      assert.deepEqual(late, [], 'progress after the result');
    });

    if (version === '2025-03-26') {
      it('a batch is answered with one array of responses', async () => {
        s.send(
          JSON.stringify([
            { jsonrpc: '2.0', id: 'b1', method: 'ping' },
            { jsonrpc: '2.0', id: 'b2', method: 'tools/call', params: { name: 'verify_otp', arguments: { mobile: '+919876543210', otp: '12' } } },
            { jsonrpc: '2.0', id: 'b3', method: 'nope/nope' },
            { jsonrpc: '2.0', method: 'notifications/whatever' },
          ]),
        );
        const { line } = await s.response();
        const arr = parseLine(line);
        assert.ok(Array.isArray(arr), `expected an array: ${line}`);
        assertValid(schema, 'JSONRPCBatchResponse', arr, line);
        assert.equal(arr.length, 3);
        const byId = Object.fromEntries(arr.map((m) => [m.id, m]));
        assert.deepEqual(Object.keys(byId).sort(), ['b1', 'b2', 'b3']);
        assertValid(schema, 'JSONRPCResponse', byId.b1, line);
        assertValid(schema, 'EmptyResult', byId.b1.result, line);
        assertValid(schema, 'JSONRPCResponse', byId.b2, line);
        assertValid(schema, 'CallToolResult', byId.b2.result, line);
        assert.equal(byId.b2.result.isError, true);
        assert.match(byId.b2.result.content[0].text, /\/otp: /);
        assertValid(schema, 'JSONRPCError', byId.b3, line);
        assert.equal(byId.b3.error.code, -32601);
      });
    } else {
      it(`a batch is refused with one -32600 error (${version} has no batches)`, async () => {
        s.send('[{"jsonrpc":"2.0","id":"b1","method":"ping"}]');
        const { line } = await s.response();
        expectIdlessError(schema, line, -32600);
      });
    }

    it('writes only valid JSON lines and exits 0 on stdin EOF', async () => {
      const rest = await s.quiet(100);
      assert.deepEqual(rest, [], 'unexpected extra lines');
      for (const line of s.all) parseLine(line);
      const { code, signal } = await s.close();
      assert.equal(signal, null);
      assert.equal(code, 0);
      s = null;
    });
  });
}

// The stateless 2026-07-28 era on a fresh stdio process: no initialize;
// every request carries its version and capabilities in _meta. Every line
// is checked against the official 2026-07-28 schema.
describe('raw stdio session, protocol 2026-07-28 (no initialize)', () => {
  const version = '2026-07-28';
  const meta = {
    'io.modelcontextprotocol/protocolVersion': version,
    'io.modelcontextprotocol/clientCapabilities': {},
    'io.modelcontextprotocol/clientInfo': { name: 'raw-test', version: '1.0.0' },
  };
  const request = (id, method, params = {}) => ({ jsonrpc: '2.0', id, method, params: { ...params, _meta: { ...meta, ...params._meta } } });
  let s;
  let schema;
  let sandbox;
  const ajv2020 = toolSchemaAjv();

  before(async () => {
    schema = new McpSchema(version);
    sandbox = await startSandbox();
    s = new RawSession([], serverEnv({ MSG91_BASE_URL: sandbox.url, MSG91_AUTH_KEY: 'raw-test-key' }));
  });

  after(async () => {
    if (s) await s.close();
    await sandbox?.stop();
  });

  function serverInfoOf(result) {
    const info = result._meta?.['io.modelcontextprotocol/serverInfo'];
    assert.equal(info?.name, 'msg91-mcp');
    return info;
  }

  it('server/discover: the versions, capabilities and cache hints', async () => {
    s.send(request('discover-1', 'server/discover'));
    const { line, notifications } = await s.response();
    assert.deepEqual(notifications, []);
    const r = expectResult(schema, line, '"discover-1"', 'DiscoverResult');
    assert.deepEqual(r.supportedVersions, ['2026-07-28', ...[...VERSIONS].reverse()]);
    assert.deepEqual(r.capabilities, { tools: { listChanged: false } });
    assert.equal(r.resultType, 'complete');
    assert.equal(r.ttlMs, 3600000);
    assert.equal(r.cacheScope, 'public');
    assert.match(r.instructions, /verify_otp/);
    assertValid(schema, 'Implementation', serverInfoOf(r), line);
  });

  it('tools/list: the eight tools, valid Tool objects, ttlMs and cacheScope', async () => {
    s.send(request(2, 'tools/list'));
    const { line } = await s.response();
    const r = expectResult(schema, line, '2', 'ListToolsResult');
    assert.deepEqual(r.tools.map((t) => t.name), TOOLS.map((t) => t.name));
    for (const t of r.tools) {
      assertValid(schema, 'Tool', t, JSON.stringify(t));
      assert.doesNotThrow(() => ajv2020.compile(t.inputSchema), `${t.name}.inputSchema`);
      assert.doesNotThrow(() => ajv2020.compile(t.outputSchema), `${t.name}.outputSchema`);
    }
    assert.equal(r.resultType, 'complete');
    assert.equal(r.ttlMs, 300000);
    assert.equal(r.cacheScope, 'public');
    serverInfoOf(r);
  });

  it('tools/call: a slow call gets valid progress, then its result', async () => {
    await sandboxControl(sandbox.url, 'misbehave', {
      method: 'POST',
      body: { tool: 'list_campaigns', delay_ms: 1000, count: 1 },
    });
    s.send(request('call-1', 'tools/call', { name: 'list_campaigns', arguments: { limit: 1 }, _meta: { progressToken: 7 } }));
    const { line, notifications } = await s.response(10000);
    const r = expectResult(schema, line, '"call-1"', 'CallToolResult');
    assert.notEqual(r.isError, true, line);
    assert.equal(r.resultType, 'complete');
    assert.deepEqual(JSON.parse(r.content[0].text), r.structuredContent);
    serverInfoOf(r);
    const notes = checkNotifications(schema, notifications);
    assert.deepEqual(
      notes.map((n) => n.params),
      [{ progressToken: 7, progress: 2, total: 3, message: 'sent to MSG91' }],
    );
  });

  it('tools/call with invalid arguments: an isError result', async () => {
    s.send(request(4, 'tools/call', { name: 'verify_otp', arguments: { mobile: 'x' } }));
    const { line } = await s.response();
    const r = expectResult(schema, line, '4', 'CallToolResult');
    assert.equal(r.isError, true);
    assert.equal(r.resultType, 'complete');
  });

  it('an unknown version: -32022 with the versions the server speaks', async () => {
    s.send({ jsonrpc: '2.0', id: 5, method: 'tools/list', params: { _meta: { ...meta, 'io.modelcontextprotocol/protocolVersion': 'v999.0.0' } } });
    const { line } = await s.response();
    const m = parseLine(line);
    assertValid(schema, 'UnsupportedProtocolVersionError', m, line);
    assert.equal(topLevelRaw(line, 'id'), '5');
    assert.deepEqual(m.error.data, { supported: ['2026-07-28', ...[...VERSIONS].reverse()], requested: 'v999.0.0' });
  });

  it('missing clientCapabilities: -32602', async () => {
    s.send({ jsonrpc: '2.0', id: 6, method: 'tools/list', params: { _meta: { 'io.modelcontextprotocol/protocolVersion': version } } });
    const { line } = await s.response();
    const e = expectError(schema, line, '6', -32602);
    assertValid(schema, 'InvalidParamsError', e, line);
    assert.match(e.message, /clientCapabilities/);
  });

  it('initialize, ping and logging/setLevel do not exist in this era (-32601)', async () => {
    for (const [id, method, params] of [
      [7, 'initialize', { protocolVersion: '2025-11-25', capabilities: {} }],
      [8, 'ping', {}],
      [9, 'logging/setLevel', { level: 'debug' }],
    ]) {
      s.send(request(id, method, params));
      const { line } = await s.response();
      const e = expectError(schema, line, String(id), -32601);
      assertValid(schema, 'MethodNotFoundError', e, line);
    }
  });

  it('an unreadable line: -32700 with no id (2026-07-28 forbids a null one)', async () => {
    s.send('{"jsonrpc":"2.0","id":10,"method":');
    const { line } = await s.response();
    expectIdlessError(schema, line, -32700);
    assert.equal(topLevelRaw(line, 'id'), undefined);
  });

  it('writes only valid JSON lines and exits 0 on stdin EOF', async () => {
    const rest = await s.quiet(100);
    assert.deepEqual(rest, [], 'unexpected extra lines');
    for (const line of s.all) parseLine(line);
    const { code, signal } = await s.close();
    assert.equal(signal, null);
    assert.equal(code, 0);
    s = null;
  });
});
