// An independent check of certd's SD-JWT VCs with the npm packages
// @sd-jwt/core and @sd-jwt/sd-jwt-vc, which share no code with certd. Node's
// own crypto does the Ed25519 signatures and SHA-256.
//
// Input (stdin, JSON):
//   { "verify": [{ "name": "...", "jwk": {Ed25519 JWK}, "sdjwt": "..." }, ...],
//     "issue":  { "claims": {...}, "disclosable": ["name", ...], "decoys": 2,
//                 "present": ["name", ...] } }            (issue is optional)
// Output (stdout, JSON):
//   { "verified": [{ "name": "...", "ok": true, "claims": {...} }
//                  | { "name": "...", "ok": false, "error": "..." }, ...],
//     "issued": { "jwk": {...}, "sdjwt": "...", "presentation": "..." } }
//
// Run by TestNodeCrossCheck (node_test.go) from the directory named by
// CERTD_SDJWT_DIR, where the npm packages are installed.
import { SDJwtVcInstance } from '@sd-jwt/sd-jwt-vc';
import {
  createHash, createPublicKey, generateKeyPairSync, randomBytes, sign, verify,
} from 'node:crypto';

const hasher = (data, alg) => {
  if (alg !== 'sha-256') throw new Error(`unexpected hash ${alg}`);
  return new Uint8Array(createHash('sha256').update(typeof data === 'string' ? data : Buffer.from(data)).digest());
};
const saltGenerator = (n) => randomBytes(n).toString('base64url');

// RFC 7638 thumbprint of an Ed25519 JWK: certd's kid.
const thumbprint = (jwk) => createHash('sha256')
  .update(`{"crv":"Ed25519","kty":"OKP","x":"${jwk.x}"}`).digest('base64url');

// The libraries hand the verifier only "header.payload" and the signature,
// so the header rules certd relies on are checked here too.
function verifierFor(jwk) {
  const key = createPublicKey({ key: jwk, format: 'jwk' });
  return (data, sig) => {
    const header = JSON.parse(Buffer.from(data.split('.')[0], 'base64url').toString('utf8'));
    if (header.alg !== 'EdDSA') throw new Error(`alg ${header.alg}`);
    if (header.typ !== 'dc+sd-jwt') throw new Error(`typ ${header.typ}`);
    if (header.kid !== thumbprint(jwk)) throw new Error('kid is not the key thumbprint');
    return verify(null, Buffer.from(data), key, Buffer.from(sig, 'base64url'));
  };
}

async function verifyOne({ name, jwk, sdjwt }) {
  try {
    const vc = new SDJwtVcInstance({ hasher, hashAlg: 'sha-256', verifier: verifierFor(jwk) });
    const { payload } = await vc.verify(sdjwt, { requiredClaimKeys: ['vct'] });
    return { name, ok: true, claims: payload };
  } catch (e) {
    return { name, ok: false, error: String(e && e.message || e) };
  }
}

async function issue({ claims, disclosable, decoys, present }) {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const jwk = publicKey.export({ format: 'jwk' });
  const vc = new SDJwtVcInstance({
    hasher, hashAlg: 'sha-256', saltGenerator, signAlg: 'EdDSA',
    signer: (data) => sign(null, Buffer.from(data), privateKey).toString('base64url'),
  });
  const sdjwt = await vc.issue(
    { ...claims, iat: Math.floor(Date.now() / 1000) },
    { _sd: disclosable, _sd_decoy: decoys },
    { header: { kid: thumbprint(jwk) } },
  );
  const frame = Object.fromEntries((present || []).map((n) => [n, true]));
  const presentation = await vc.present(sdjwt, frame);
  return { jwk, sdjwt, presentation };
}

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const input = JSON.parse(Buffer.concat(chunks).toString('utf8'));
const out = { verified: [] };
for (const c of input.verify || []) out.verified.push(await verifyOne(c));
if (input.issue) out.issued = await issue(input.issue);
process.stdout.write(JSON.stringify(out));
