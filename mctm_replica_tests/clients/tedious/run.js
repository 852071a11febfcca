// Drives tedious (Node's TDS client) for the stand-in conformance suite.
//
// stdin: one JSON object
//   {connection: {server, port, user, password, database,
//                 encrypt: false | true | "strict", trustServerCertificate: bool, ca: "/path.pem" | null,
//                 options: {...more tedious connection options}},
//    requests: [{mode: "batch" | "sql" | "prepare", sql, params: [{name, type, value, options}],
//                executions: [[values in params order], ...]  (mode "prepare" only)}]}
// stdout: one JSON object {connectError: null | {...}, results: [per request:
//   {resultSets: [{columns: [{name, type, length, precision, scale, nullable}], rows: [[cell]]}],
//    rowCounts: [n], error: null | {number, state, class, message}, returnValues: {name: cell}}]}
// A param with "output": true is an OUTPUT parameter (addOutputParameter).
// A cell is JSON for null/boolean/number/string; {"date": ISO} for a Date,
// {"hex": "..."} for a Buffer, {"bigint": "..."} for a BigInt.
'use strict';
const fs = require('fs');
const { Connection, Request, TYPES } = require('tedious');

function cell(v) {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return { date: v.toISOString() };
  if (Buffer.isBuffer(v)) return { hex: v.toString('hex') };
  if (typeof v === 'bigint') return { bigint: v.toString() };
  return v;
}

function errorJson(err) {
  if (!err) return null;
  const e = err.errors ? err.errors[err.errors.length - 1] : err;
  return { number: e.number ?? null, state: e.state ?? null, class: e.class ?? null,
           message: String(e.message), code: e.code ?? null };
}

function connect(c) {
  const options = Object.assign({
    port: c.port, database: c.database, encrypt: c.encrypt ?? false,
    trustServerCertificate: c.trustServerCertificate ?? false, rowCollectionOnRequestCompletion: false,
    connectTimeout: 30000, requestTimeout: 60000,
  }, c.options || {});
  if (c.ca) options.cryptoCredentialsDetails = { ca: fs.readFileSync(c.ca) };
  const conn = new Connection({
    server: c.server,
    authentication: { type: 'default', options: { userName: c.user, password: c.password } },
    options,
  });
  return new Promise((resolve, reject) => {
    conn.on('connect', (err) => (err ? reject(err) : resolve(conn)));
    conn.connect();
  });
}

function collector(result) {
  let current = null;
  return {
    columnMetadata(cols) {
      current = {
        columns: cols.map((c) => ({
          name: c.colName, type: c.type.name, length: c.dataLength ?? null,
          precision: c.precision ?? null, scale: c.scale ?? null, nullable: Boolean(c.flags & 0x01),
        })),
        rows: [],
      };
      result.resultSets.push(current);
    },
    row(columns) { current.rows.push(columns.map((c) => cell(c.value))); },
  };
}

function addParams(req, params, values) {
  (params || []).forEach((p, i) => {
    const value = values ? values[i] : p.value;
    if (p.output) req.addOutputParameter(p.name, TYPES[p.type], value, p.options || {});
    else req.addParameter(p.name, TYPES[p.type], value, p.options || {});
  });
}

function newRequest(sql, result, done) {
  const col = collector(result);
  const req = new Request(sql, (err) => { result.error = errorJson(err); done(); });
  req.on('columnMetadata', (cols) => col.columnMetadata(cols));
  req.on('row', (columns) => col.row(columns));
  req.on('doneInProc', (rowCount) => { if (rowCount !== undefined) result.rowCounts.push(rowCount); });
  req.on('done', (rowCount) => { if (rowCount !== undefined) result.rowCounts.push(rowCount); });
  req.on('returnValue', (name, value) => { result.returnValues[name] = cell(value); });
  return req;
}

function run(conn, r) {
  const result = { resultSets: [], rowCounts: [], error: null, executions: [], returnValues: {} };
  return new Promise((resolve) => {
    if (r.mode === 'prepare') {
      const prep = new Request(r.sql, () => {});
      let current = null; // the execution running; null while preparing
      prep.on('error', (err) => {
        // tedious emits 'error' for a failed prepare, and for a failed execute too.
        if (current === null) { result.error = errorJson(err); resolve(result); return; }
        if (!current.error) current.error = errorJson(err);
      });
      addParams(prep, r.params, null);
      prep.on('prepared', async () => {
        for (const values of r.executions || []) {
          const one = { resultSets: [], rowCounts: [], error: null };
          current = one;
          await new Promise((res) => {
            const col = collector(one);
            prep.removeAllListeners('row');
            prep.removeAllListeners('columnMetadata');
            prep.on('columnMetadata', (cols) => col.columnMetadata(cols));
            prep.on('row', (columns) => col.row(columns));
            prep.once('requestCompleted', res);
            prep.userCallback = (err) => { if (err) one.error = errorJson(err); };
            const byName = {};
            r.params.forEach((p, i) => { byName[p.name] = values[i]; });
            conn.execute(prep, byName);
          });
          result.executions.push(one);
        }
        prep.once('requestCompleted', () => resolve(result));
        current = { error: null };
        // tedious hands a request's last error to every later callback: keep the
        // unprepare's apart from the executions'.
        prep.userCallback = (err) => { result.unprepareError = errorJson(err); };
        conn.unprepare(prep);
      });
      conn.prepare(prep);
      return;
    }
    const req = newRequest(r.sql, result, () => resolve(result));
    if (r.mode === 'batch') {
      conn.execSqlBatch(req);
    } else {
      addParams(req, r.params, null);
      conn.execSql(req);
    }
  });
}

async function main() {
  const input = JSON.parse(fs.readFileSync(0, 'utf8'));
  const out = { connectError: null, results: [] };
  let conn;
  try {
    conn = await connect(input.connection);
  } catch (err) {
    out.connectError = errorJson(err);
    process.stdout.write(JSON.stringify(out));
    return;
  }
  for (const r of input.requests) {
    out.results.push(await run(conn, r));
  }
  await new Promise((resolve) => { conn.on('end', resolve); conn.close(); });
  process.stdout.write(JSON.stringify(out));
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack || err));
  process.exit(2);
});
