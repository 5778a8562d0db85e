// The ballot page: the voter's choices are sealed here, in the browser, and sent to the JSON API with no
// cookie and no token; the inbox server never receives a choice.
//
// 1. GET  /inbox/sessions/{id}/credential   (cookie): the session's public keys and the voter's class.
// 2. blind the token and class messages (RFC 9474), POST /inbox/sessions/{id}/credentials (cookie): the
//    session signs them blind and records that this voter took a credential.
// 3. finalize both signatures, seal every candidate's choice (RECUSE on the class's excluded candidates)
//    and the class credential, POST /ballot-sessions/{id}/ballots with credentials "omit".
// 4. show the receipt on the page; it is kept nowhere else.
//
// Between 2 and 3 the credential is kept in this tab's sessionStorage (never the choices), so that a
// reload or a failed send can still cast the ballot the voter is owed; it is removed once the ballot is in.

import * as bc from "./ballot-crypto.js";

const root = document.getElementById("ballot");
const sessionId = root.dataset.sessionId;
const apiBase = root.dataset.apiBase || "";
const sendButton = document.getElementById("send");
const statusLine = document.getElementById("ballot-status");
const receiptBox = document.getElementById("receipt-box");
const agreeAll = document.getElementById("agree-all"); // "Đồng ý tất cả" and its confirmation (voters only)
const confirmBox = document.getElementById("confirm-all");
const storageKey = `tdkt-credential:${sessionId}`;

function say(text, kind = "muted") {
  statusLine.textContent = text;
  statusLine.className = kind;
  statusLine.hidden = !text;
}

async function call(url, options = {}) {
  const response = await fetch(url, {
    ...options,
    headers: { Accept: "application/json", ...(options.body ? { "Content-Type": "application/json" } : {}), ...options.headers },
  });
  let body = {};
  try {
    body = await response.json();
  } catch {
    body = {};
  }
  if (!response.ok) {
    const fields = (body.errors || []).map((e) => `${e.field}: ${e.message}`).join("; ");
    throw new Error(body.detail || fields || body.title || `HTTP ${response.status}`);
  }
  return body;
}

function candidates() {
  return Array.from(root.querySelectorAll("fieldset[data-workflow-id]"), (f) => f.dataset.workflowId);
}

function markExcluded(excluded) {
  for (const fieldset of root.querySelectorAll("fieldset[data-workflow-id]")) {
    if (!excluded.includes(fieldset.dataset.workflowId)) continue;
    fieldset.disabled = true;
    fieldset.dataset.recuse = "true";
    if (!fieldset.querySelector(".conflict")) {
      const note = document.createElement("p");
      note.className = "conflict";
      note.textContent = "Không tham gia (xung đột lợi ích).";
      fieldset.append(note);
    }
  }
}

function chosenCodes(excluded) {
  const codes = {};
  const missing = [];
  for (const workflowId of candidates()) {
    if (excluded.includes(workflowId)) {
      codes[workflowId] = bc.CHOICE_CODES.RECUSE;
      continue;
    }
    const picked = root.querySelector(`input[data-candidate="${CSS.escape(workflowId)}"]:checked`);
    if (!picked) missing.push(workflowId);
    else codes[workflowId] = bc.CHOICE_CODES[picked.value];
  }
  return { codes, missing };
}

function saveCredential(info, credential) {
  sessionStorage.setItem(
    storageKey,
    JSON.stringify({
      info,
      round: credential.round,
      token: bc.b64(credential.token),
      tokenSignature: bc.b64(credential.tokenSignature),
      classId: credential.classId,
      classSignature: bc.b64(credential.classSignature),
      excluded: credential.excluded,
    }),
  );
}

function keptCredential() {
  const kept = sessionStorage.getItem(storageKey);
  if (!kept) return null;
  const k = JSON.parse(kept);
  return {
    info: k.info,
    credential: {
      sessionId,
      round: k.round,
      token: bc.unb64(k.token),
      tokenSignature: bc.unb64(k.tokenSignature),
      classId: k.classId,
      classSignature: bc.unb64(k.classSignature),
      excluded: k.excluded,
    },
  };
}

function showReceipt(receipt) {
  sessionStorage.removeItem(storageKey);
  for (const fieldset of root.querySelectorAll("fieldset")) fieldset.disabled = true;
  sendButton.hidden = true;
  if (agreeAll) agreeAll.hidden = true;
  say("");
  receiptBox.hidden = false;
  document.getElementById("receipt").textContent = receipt.receipt;
  document.getElementById("receipt-link").href = `/inbox/receipt#r=${encodeURIComponent(receipt.receipt)}`;
}

async function cast(info, credential) {
  const { codes, missing } = chosenCodes(credential.excluded);
  if (missing.length) {
    throw new Error(`Vui lòng chọn ý kiến cho tất cả đề nghị (còn thiếu ${missing.length}).`);
  }
  say("Đang niêm phong và gửi phiếu…");
  const ballot = await bc.anonymousBallot(info.keys, credential, codes);
  // No cookie and no token: the credential is the ballot's only authority, and nothing names the voter.
  const receipt = await call(`${apiBase}/ballot-sessions/${encodeURIComponent(sessionId)}/ballots`, {
    method: "POST",
    credentials: "omit",
    headers: { "Idempotency-Key": crypto.randomUUID() },
    body: JSON.stringify(ballot),
  });
  showReceipt(receipt);
}

let info = null;

async function send() {
  sendButton.disabled = true;
  try {
    const kept = keptCredential();
    if (kept) {
      await cast(kept.info, kept.credential);
      return;
    }
    if (!info) throw new Error("Chưa đọc được khóa của phiên; hãy tải lại trang.");
    const { missing } = chosenCodes(info.conflict_class.excluded);
    if (missing.length) {
      throw new Error(`Vui lòng chọn ý kiến cho tất cả đề nghị (còn thiếu ${missing.length}).`);
    }
    say("Đang nhận thẻ bỏ phiếu (chữ ký mù)…");
    const { request, pending } = await bc.prepareCredential(info.keys, info.conflict_class, sessionId, info.round);
    const issue = await call(`/inbox/sessions/${encodeURIComponent(sessionId)}/credentials`, {
      method: "POST",
      credentials: "same-origin",
      body: JSON.stringify(request),
    });
    const credential = await bc.finishCredential(pending, issue);
    saveCredential(info, credential);
    markExcluded(credential.excluded);
    await cast(info, credential);
  } catch (err) {
    say(`Phiếu chưa được gửi: ${err.message}`, "error");
  } finally {
    sendButton.disabled = false;
  }
}

async function start() {
  const kept = keptCredential();
  if (kept && kept.credential.round === Number(root.dataset.round)) {
    // A credential taken in this tab whose ballot did not go out: the voter may still send it.
    markExcluded(kept.credential.excluded);
    for (const fieldset of root.querySelectorAll("fieldset[data-workflow-id]:not([data-recuse])")) {
      fieldset.disabled = false;
    }
    sendButton.hidden = false;
    sendButton.disabled = false;
    if (agreeAll) agreeAll.disabled = false;
    say("Trình duyệt này còn giữ thẻ bỏ phiếu chưa dùng của anh/chị: chọn ý kiến và gửi phiếu.", "ok");
    return;
  }
  if (kept) sessionStorage.removeItem(storageKey); // another round's: no longer valid
  if (root.dataset.mayVote !== "true") return;
  try {
    info = await call(`/inbox/sessions/${encodeURIComponent(sessionId)}/credential`, { credentials: "same-origin" });
    markExcluded(info.conflict_class.excluded);
    sendButton.disabled = false;
    if (agreeAll) agreeAll.disabled = false;
  } catch (err) {
    say(`Không đọc được khóa của phiên: ${err.message}`, "error");
  }
}

// "Đồng ý tất cả": every nomination the voter may vote on is marked FOR, then the page asks before sealing
// (a long list is not sent by a slip of the finger); "Xem lại" leaves the marks for the voter to change.
function markAllFor() {
  const open = root.querySelectorAll("fieldset[data-workflow-id]:not([disabled])");
  for (const fieldset of open) {
    const agree = fieldset.querySelector('input[type="radio"][value="FOR"]');
    if (agree) agree.checked = true;
  }
  return open.length;
}

if (agreeAll && confirmBox) {
  agreeAll.addEventListener("click", () => {
    const count = markAllFor();
    if (!count) return;
    document.getElementById("confirm-all-text").textContent =
      `Anh/chị chọn “Đồng ý” cho cả ${count} đề nghị. Xác nhận để niêm phong và gửi phiếu; phiếu đã gửi không thể sửa.`;
    confirmBox.hidden = false;
    document.getElementById("confirm-all-send").focus();
  });
  document.getElementById("confirm-all-back").addEventListener("click", () => {
    confirmBox.hidden = true;
    root.querySelector("fieldset[data-workflow-id]:not([disabled]) input")?.focus();
  });
  document.getElementById("confirm-all-send").addEventListener("click", async () => {
    confirmBox.hidden = true;
    await send();
  });
}

sendButton.addEventListener("click", send);
start();
