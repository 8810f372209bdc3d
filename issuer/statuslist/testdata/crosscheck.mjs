// Independent check of certd's status lists with the npm package
// @digitalbazaar/vc-bitstring-status-list (Digital Bazaar's implementation of
// the W3C Recommendation). Run by TestNodeCrossCheck; it needs
//   npm install --prefix "$CERTD_STATUSLIST_DIR" @digitalbazaar/vc-bitstring-status-list@2.0.1
//
// stdin: a JSON array of jobs
//   {"op":"decode","encodedList":"u…","indexes":[…]}  -> {"length":N,"set":[the indexes whose bit is set]}
//   {"op":"encode","length":N,"indexes":[…]}          -> {"encodedList":"u…"} with those bits set
// stdout: a JSON array of results, one per job ({"error":"…"} for a job the package refused).
import {readFileSync} from 'node:fs';
import {createRequire} from 'node:module';
import {join} from 'node:path';
import {pathToFileURL} from 'node:url';

const dir = process.env.CERTD_STATUSLIST_DIR;
if(!dir) {
  console.error('CERTD_STATUSLIST_DIR is not set');
  process.exit(2);
}
// Resolve the package from the directory it was installed in, through its
// own package.json "exports", as any importer would.
const resolved = createRequire(join(dir, 'noop.js'))
  .resolve('@digitalbazaar/vc-bitstring-status-list');
const {createList, decodeList} = await import(pathToFileURL(resolved).href);

const jobs = JSON.parse(readFileSync(0, 'utf8'));
const results = [];
for(const job of jobs) {
  try {
    if(job.op === 'decode') {
      const list = await decodeList({encodedList: job.encodedList});
      results.push({
        length: list.length,
        set: job.indexes.filter(i => list.getStatus(i))
      });
    } else if(job.op === 'encode') {
      const list = await createList({length: job.length});
      for(const i of job.indexes) {
        list.setStatus(i, true);
      }
      results.push({encodedList: await list.encode()});
    } else {
      results.push({error: `unknown op ${job.op}`});
    }
  } catch(e) {
    results.push({error: String(e && e.message || e)});
  }
}
process.stdout.write(JSON.stringify(results));
