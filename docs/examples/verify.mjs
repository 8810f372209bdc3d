// Verify a certd certificate record with nothing but Node (18 or later) and
// the npm package jose: the signature with the institution's published key,
// then the revocation bit in the institution's signed status list.
//
//   npm install jose
//   node verify.mjs https://certd.example.cn RECORD.jwt
//
// Prints one word: valid, revoked (revoked, or superseded by a corrected
// certificate), invalid (forged, altered, or not certd's) or unknown (the
// status cannot be determined now); exits 0 only for valid. The reason goes
// to stderr. See docs/verifying.md for what this does and does not check.
import {readFileSync} from 'node:fs';
import {gunzipSync} from 'node:zlib';
import * as jose from 'jose';

const [arg, file] = process.argv.slice(2);
const base = arg.replace(/\/+$/, ''); // certd's --public-url
const now = Date.now();

function answer(word, why) {
  console.log(word);
  if(why) console.error(why);
  process.exit(word === 'valid' ? 0 : 1);
}

async function getText(url) {
  const res = await fetch(url);
  if(!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return (await res.text()).trim();
}

// 1. The keys: every institution key certd published, with the institution
// it belongs to and the window in which it could sign.
const jwks = JSON.parse(await getText(base + '/.well-known/jwks.json'));

// 2. A token counts only if its kid names a key of the institution the token
// itself names (never another institution's key), valid when it was signed.
async function verifyToken(token) {
  const header = jose.decodeProtectedHeader(token);
  const claims = jose.decodeJwt(token); // unverified: only to pick the key
  const inst = String(claims.iss || '').replace(/^urn:certd:institution:/, '');
  const jwk = jwks.keys.find(k => k.kid === header.kid &&
    k.certd_role === 'institution' && k.certd_institution === inst);
  if(!jwk) throw new Error(`key ${header.kid} is not one of ${inst}'s keys`);
  const at = claims.iat;
  if(!(at >= (jwk.certd_not_before || 0)) || (jwk.certd_not_after && at >= jwk.certd_not_after)) {
    throw new Error(`key ${header.kid} could not sign at ${at}`);
  }
  const {payload} = await jose.jwtVerify(token, await jose.importJWK(jwk, 'EdDSA'),
    {algorithms: ['EdDSA'], typ: 'vc+jwt'});
  return {inst, payload};
}

const record = readFileSync(file, 'utf8').trim();
let rec;
try {
  rec = await verifyToken(record);
} catch(e) {
  answer('invalid', `record: ${e.message}`);
}

// 3. Where the certificate's revocation bit is: its own institution's list.
const entry = rec.payload.credentialStatus;
if(!entry) answer('unknown', 'the record has no credentialStatus (issued before status lists): check online');
const listURL = `${base}/status/${rec.inst}`;
if(entry.type !== 'BitstringStatusListEntry' || entry.statusPurpose !== 'revocation' ||
   entry.statusListCredential !== listURL || !/^(0|[1-9][0-9]*)$/.test(entry.statusListIndex)) {
  answer('invalid', `the record's status entry does not point into ${listURL}`);
}

// 4. The list: signed by the same institution, for that address.
let list;
try {
  list = await verifyToken(await getText(entry.statusListCredential));
} catch(e) {
  answer('unknown', `status list: ${e.message}`);
}
const subject = list.payload.credentialSubject || {};
if(list.inst !== rec.inst || list.payload.id !== listURL || subject.statusPurpose !== 'revocation') {
  answer('unknown', 'the status list is not this institution\'s revocation list');
}

// 5. The bit: "u" + base64url of the GZIP-compressed bits; index 0 is the
// most significant bit of the first byte.
let bits;
try {
  if(!subject.encodedList.startsWith('u')) throw new Error('not multibase base64url');
  bits = gunzipSync(Buffer.from(subject.encodedList.slice(1), 'base64url'));
} catch(e) {
  answer('unknown', `status list encoding: ${e.message}`);
}
const index = Number(entry.statusListIndex);
if(index >= bits.length * 8) answer('invalid', `index ${index} is outside the list`);
if((bits[index >> 3] >> (7 - (index & 7))) & 1) answer('revoked', `bit ${index} is set`);

// 6. A clear bit means "not revoked" only while the list is fresh, and only
// for a record signed (a full second) before the list was made.
const validFrom = Date.parse(list.payload.validFrom);
if(!(now < validFrom + subject.ttl)) {
  answer('unknown', `status as of ${list.payload.validFrom}; the list is past its ttl`);
}
if(validFrom < (rec.payload.iat + 1) * 1000) {
  answer('unknown', `the status list (${list.payload.validFrom}) is older than the record`);
}
answer('valid', `status as of ${list.payload.validFrom}`);
