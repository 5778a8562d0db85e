// Counting committee (Ban kiểm phiếu) pages: enrolling this browser's counting key, and handing in a share.
//
// The key pair is made here with Web Crypto, its private half non-extractable and kept in this browser's
// IndexedDB for the signed-in actor; only the public half (SPKI PEM) is sent, through the inbox. A share is
// fetched encrypted to that key, decrypted here, and handed in through the inbox (the plain share crosses
// TLS once, to the session, as the CLI's does).

import * as bc from "./ballot-crypto.js";

const root = document.getElementById("counting");
const actor = root.dataset.actor;
const statusLine = document.getElementById("counting-status");

function say(text, kind = "muted") {
  statusLine.textContent = text;
  statusLine.className = kind;
  statusLine.hidden = !text;
}

async function call(url, options = {}) {
  const response = await fetch(url, {
    credentials: "same-origin",
    ...options,
    headers: { Accept: "application/json", ...(options.body ? { "Content-Type": "application/json" } : {}) },
  });
  let body = {};
  try {
    body = await response.json();
  } catch {
    body = {};
  }
  if (!response.ok) {
    const error = new Error(body.detail || body.title || `HTTP ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return body;
}

// ---- enrolment ------------------------------------------------------------------------------------------

async function enroll(replace) {
  const button = document.getElementById("enroll");
  button.disabled = true;
  try {
    let kept = await bc.storedCountingKey(actor);
    if (!kept) {
      say("Đang tạo khóa kiểm phiếu (RSA 3072) trong trình duyệt…");
      kept = await bc.createCountingKey(actor);
    }
    const enrolled = await call("/inbox/counting-key", {
      method: "POST",
      body: JSON.stringify({ public_pem: kept.publicPem, replace }),
    });
    document.getElementById("enrolled-key").textContent = enrolled.key_id;
    document.getElementById("browser-key").textContent = kept.keyId;
    document.getElementById("replace").hidden = true;
    say(`Đã đăng ký khóa kiểm phiếu ${enrolled.key_id}. Khóa bí mật chỉ nằm trong trình duyệt này.`, "ok");
  } catch (err) {
    if (err.status === 409 && !replace) {
      document.getElementById("replace").hidden = false;
      say(`Chưa đăng ký: ${err.message}`, "error");
    } else {
      say(`Chưa đăng ký: ${err.message}`, "error");
    }
  } finally {
    button.disabled = false;
  }
}

async function startEnrolment() {
  const kept = await bc.storedCountingKey(actor);
  document.getElementById("browser-key").textContent = kept ? kept.keyId : "chưa có";
  const enrolled = root.dataset.enrolledKey || "";
  if (kept && kept.keyId === enrolled) {
    say("Khóa kiểm phiếu trong trình duyệt này là khóa đã đăng ký.", "ok");
  }
  document.getElementById("enroll").addEventListener("click", () => enroll(false));
  document.getElementById("replace-button").addEventListener("click", () => enroll(true));
  document.getElementById("enroll").disabled = false;
}

// ---- hand-in --------------------------------------------------------------------------------------------

async function handIn() {
  const sessionId = root.dataset.sessionId;
  const path = `/inbox/sessions/${encodeURIComponent(sessionId)}`;
  const button = document.getElementById("hand-in");
  button.disabled = true;
  try {
    const kept = await bc.storedCountingKey(actor);
    if (!kept) {
      throw new Error(
        "trình duyệt này không giữ khóa kiểm phiếu của anh/chị; hãy nộp từ trình duyệt hoặc máy đã tạo khóa " +
          "(hoặc bằng lệnh `starter.py ballot hand-in`).",
      );
    }
    const member = await call(`${path}/share`);
    if (member.member_key_id !== kept.keyId) {
      throw new Error(
        `mảnh khóa được mã hóa cho khóa ${member.member_key_id}, không phải khóa trình duyệt này giữ ` +
          `(${kept.keyId}); hãy nộp từ nơi giữ khóa đó.`,
      );
    }
    say("Đang giải mã mảnh khóa trong trình duyệt…");
    const { index, share } = await bc.decryptShare(kept.privateKey, member.encrypted_share);
    if (index !== member.index) throw new Error("mảnh khóa giải mã ra không đúng số thứ tự của anh/chị");
    const handed = await call(`${path}/shares`, { method: "POST", body: JSON.stringify({ index, share }) });
    showCount(handed);
    button.hidden = true;
  } catch (err) {
    say(`Chưa nộp được mảnh khóa: ${err.message}`, "error");
    button.disabled = false;
  }
}

function showCount(handed) {
  const count = document.getElementById("shares-in");
  count.textContent = `Đã nộp ${handed.shares_in}/${handed.threshold} mảnh khóa`;
  const done = handed.phase !== "AWAITING_COUNT";
  say(
    done
      ? "Đã nộp mảnh khóa của anh/chị. Đủ mảnh khóa: phiên đã kiểm phiếu."
      : "Đã nộp mảnh khóa của anh/chị. Phiên kiểm phiếu khi đủ số mảnh khóa.",
    "ok",
  );
}

if (root.dataset.page === "enroll") startEnrolment();
const handInButton = document.getElementById("hand-in");
if (root.dataset.page === "hand-in" && handInButton) {
  handInButton.addEventListener("click", handIn);
  handInButton.disabled = false;
}
