// An independent check of certd's signed records: verify a certificate
// record against the published JWKS with the `jose` npm package, which
// shares no code with certd. Usage: node jose_verify.mjs JWKS_URL TOKEN
// Prints one JSON line: {"ok":true,"number":...} or {"ok":false,"error":...}.
import { createLocalJWKSet, jwtVerify } from 'jose';

const [jwksURL, token] = process.argv.slice(2);
const res = await fetch(jwksURL);
const jwks = await res.json();
const keySet = createLocalJWKSet(jwks);
try {
  const { payload, protectedHeader } = await jwtVerify(token, keySet, {
    algorithms: ['EdDSA'],
    typ: 'vc+jwt',
  });
  console.log(JSON.stringify({
    ok: true,
    kid: protectedHeader.kid,
    number: payload.credentialSubject.achievement.certificateNumber,
    issuer: payload.iss,
  }));
} catch (e) {
  console.log(JSON.stringify({ ok: false, error: e.code || String(e) }));
}
