// The voter's and the counting committee member's cryptography, in the browser (Web Crypto only).
//
// Byte formats are the ones security/ (Python) verifies and opens; docs/ballot-crypto.md states them:
// - JSON framing: JSON.stringify of a list of ASCII strings and small integers, UTF-8; the same bytes as
//   Python's json.dumps(list, ensure_ascii=False, separators=(",", ":")).
// - token_message = ["tdkt-ballot-token/2", session, round, b64(token)], class_message adds the class id;
//   the receipt is sha256(token_message) in hex.
// - blind signatures: RFC 9474 RSABSSA-SHA384-PSS-Deterministic (the vendored @cloudflare/blindrsa-ts).
// - sealing: one fresh AES-256-GCM key per ballot, wrapped with RSA-OAEP-SHA256; each choice one byte
//   (F, A, B, X) under its own 12-byte nonce and the AAD ["tdkt-ballot-choice/2", session, round, receipt,
//   candidate]; the class credential sealed the same way under ["tdkt-ballot-credential/2", ...].
// - counting key: RSA-OAEP-SHA256 3072, made non-extractable and kept in IndexedDB for one actor; a share
//   decrypts to index byte || 32 share bytes.

import { RSABSSA } from "./vendor/blindrsa.js";

const encoder = new TextEncoder();
const TOKEN_BYTES = 32;
const NONCE_BYTES = 12;
const KEY_ID_HEX = 32;
const COUNTING_KEY_BITS = 3072;
const SHARE_PLAINTEXT_BYTES = 33;

export const CHOICE_CODES = { FOR: "F", AGAINST: "A", ABSTAIN: "B", RECUSE: "X" };

export function b64(bytes) {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let text = "";
  for (let i = 0; i < view.length; i += 0x8000) {
    text += String.fromCharCode(...view.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

export function unb64(text) {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

export function hex(bytes) {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** JSON framing: a list's compact JSON as UTF-8, so ("a|b", "c") and ("a", "b|c") stay apart. */
export function frame(list) {
  return encoder.encode(JSON.stringify(list));
}

export function randomToken() {
  return crypto.getRandomValues(new Uint8Array(TOKEN_BYTES));
}

export function tokenMessage(sessionId, round, token) {
  return frame(["tdkt-ballot-token/2", sessionId, round, b64(token)]);
}

export function classMessage(sessionId, round, token, classId) {
  return frame(["tdkt-ballot-class/2", sessionId, round, b64(token), classId]);
}

export async function receiptHex(sessionId, round, token) {
  return hex(await crypto.subtle.digest("SHA-256", tokenMessage(sessionId, round, token)));
}

export function pemToDer(pem) {
  const body = pem.replace(/-----(BEGIN|END) [A-Z ]+-----/g, "").replace(/\s+/g, "");
  return unb64(body);
}

export function derToPem(der, label = "PUBLIC KEY") {
  const body = b64(der).match(/.{1,64}/g).join("\n");
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
}

/** The key id every side uses: the first 32 hex digits of sha256 over the DER SubjectPublicKeyInfo. */
export async function keyIdOf(pem) {
  return hex(await crypto.subtle.digest("SHA-256", pemToDer(pem))).slice(0, KEY_ID_HEX);
}

// ---- RFC 9474 blind signatures (the voter's side) ----------------------------------------------------------

const suite = () => RSABSSA.SHA384.PSS.Deterministic();

async function pssPublicKey(pem) {
  // The library reads the modulus through a JWK export, so the public key is imported extractable.
  return crypto.subtle.importKey("spki", pemToDer(pem), { name: "RSA-PSS", hash: "SHA-384" }, true, ["verify"]);
}

/** Blind `message` to the RFC 9474 key `publicPem`: {blinded, inv} (bytes). */
export async function blind(publicPem, message) {
  const { blindedMsg, inv } = await suite().blind(await pssPublicKey(publicPem), suite().prepare(message));
  return { blinded: blindedMsg, inv };
}

/** Unblind the issuer's blind signature; the result verifies as RSA-PSS (SHA-384, salt 48) or this throws. */
export async function finalize(publicPem, message, blindSignature, inv) {
  return suite().finalize(await pssPublicKey(publicPem), message, blindSignature, inv);
}

export async function verify(publicPem, message, signature) {
  return suite().verify(await pssPublicKey(publicPem), signature, message);
}

/** What the voter keeps between asking for a credential and casting: the token and the blinding factors. */
export async function prepareCredential(keys, cls, sessionId, round) {
  const token = randomToken();
  const tokenMsg = tokenMessage(sessionId, round, token);
  const classMsg = classMessage(sessionId, round, token, cls.class_id);
  const t = await blind(keys.issuer.public_pem, tokenMsg);
  const c = await blind(cls.key.public_pem, classMsg);
  return {
    request: { round, blinded_token: b64(t.blinded), blinded_class: b64(c.blinded) },
    pending: { sessionId, round, token, tokenMsg, classMsg, tokenInv: t.inv, classInv: c.inv, keys, cls },
  };
}

/** Finalize both signatures of the issuer's answer (CredentialIssue); throws if either does not verify. */
export async function finishCredential(pending, issue) {
  if (issue.round !== pending.round || issue.class_id !== pending.cls.class_id) {
    throw new Error("the credential answers another round or class");
  }
  const tokenSignature = await finalize(
    pending.keys.issuer.public_pem,
    pending.tokenMsg,
    unb64(issue.blind_token_signature),
    pending.tokenInv,
  );
  const classSignature = await finalize(
    pending.cls.key.public_pem,
    pending.classMsg,
    unb64(issue.blind_class_signature),
    pending.classInv,
  );
  return {
    sessionId: pending.sessionId,
    round: pending.round,
    token: pending.token,
    tokenSignature,
    classId: issue.class_id,
    classSignature,
    excluded: issue.excluded,
  };
}

// ---- sealing (AES-256-GCM under a key wrapped with RSA-OAEP-SHA256) ----------------------------------------

async function gcmSeal(key, plaintext, aad) {
  const nonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
  const sealed = await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce, additionalData: aad }, key, plaintext);
  return b64(concat(nonce, new Uint8Array(sealed)));
}

/**
 * Seal a ballot: `codes` maps every live candidate's workflow id to "F", "A", "B" or "X" (RECUSE, exactly
 * on the class's excluded candidates). Returns the SealedBallot JSON object.
 */
export async function sealBallot(sealing, sessionId, round, token, codes, classId, classSignature) {
  if ((await keyIdOf(sealing.public_pem)) !== sealing.key_id) {
    throw new Error("the session's sealing key does not match its key id");
  }
  const oaep = await crypto.subtle.importKey(
    "spki",
    pemToDer(sealing.public_pem),
    { name: "RSA-OAEP", hash: "SHA-256" },
    false,
    ["encrypt"],
  );
  const raw = crypto.getRandomValues(new Uint8Array(32));
  const wrapped = new Uint8Array(await crypto.subtle.encrypt({ name: "RSA-OAEP" }, oaep, raw));
  const aes = await crypto.subtle.importKey("raw", raw, { name: "AES-GCM" }, false, ["encrypt"]);
  raw.fill(0);
  const receipt = await receiptHex(sessionId, round, token);
  const sealedChoices = {};
  for (const [candidate, code] of Object.entries(codes)) {
    if (!["F", "A", "B", "X"].includes(code)) throw new Error(`no such choice code for ${candidate}`);
    const aad = frame(["tdkt-ballot-choice/2", sessionId, round, receipt, candidate]);
    sealedChoices[candidate] = await gcmSeal(aes, encoder.encode(code), aad);
  }
  const credential = encoder.encode(JSON.stringify({ class_id: classId, signature: b64(classSignature) }));
  const sealedCredential = await gcmSeal(aes, credential, frame(["tdkt-ballot-credential/2", sessionId, round, receipt]));
  return {
    key_id: sealing.key_id,
    wrapped_key: b64(wrapped),
    sealed_choices: sealedChoices,
    sealed_credential: sealedCredential,
  };
}

/** The AnonymousBallot the JSON API takes: no voter anywhere. */
export async function anonymousBallot(keys, credential, codes) {
  const sealed = await sealBallot(
    keys.sealing,
    credential.sessionId,
    credential.round,
    credential.token,
    codes,
    credential.classId,
    credential.classSignature,
  );
  return {
    round: credential.round,
    token: b64(credential.token),
    token_signature: b64(credential.tokenSignature),
    ballot: sealed,
  };
}

// ---- the counting committee member's key (non-extractable, in IndexedDB) -----------------------------------

const DB_NAME = "tdkt-counting-keys";
const STORE = "keys";

function openDb() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function inStore(mode, work) {
  const db = await openDb();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const request = work(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(request.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

/** The counting key this browser keeps for `actorId`: {privateKey, publicPem, keyId, createdAt} or null. */
export async function storedCountingKey(actorId) {
  return (await inStore("readonly", (store) => store.get(actorId))) ?? null;
}

/**
 * Make an RSA-OAEP-3072 key pair whose private half cannot leave this browser (extractable: false) and keep
 * it in IndexedDB under `actorId`. Refuses when one is kept already (shares may be encrypted to it).
 */
export async function createCountingKey(actorId) {
  if (await storedCountingKey(actorId)) throw new Error("this browser already keeps a counting key for the actor");
  const pair = await crypto.subtle.generateKey(
    { name: "RSA-OAEP", modulusLength: COUNTING_KEY_BITS, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
    false,
    ["encrypt", "decrypt"],
  );
  const publicPem = derToPem(new Uint8Array(await crypto.subtle.exportKey("spki", pair.publicKey)));
  const record = {
    privateKey: pair.privateKey,
    publicPem,
    keyId: await keyIdOf(publicPem),
    createdAt: new Date().toISOString(),
  };
  await inStore("readwrite", (store) => store.add(record, actorId));
  return record;
}

/** Decrypt a MemberShare's encrypted_share: {index, share} with the share as b64 of its 32 bytes. */
export async function decryptShare(privateKey, encryptedB64) {
  const plain = new Uint8Array(await crypto.subtle.decrypt({ name: "RSA-OAEP" }, privateKey, unb64(encryptedB64)));
  if (plain.length !== SHARE_PLAINTEXT_BYTES || plain[0] < 1 || plain[0] > 15) {
    throw new Error("the decrypted share is not an index byte and 32 share bytes");
  }
  return { index: plain[0], share: b64(plain.subarray(1)) };
}
